#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# Every file only defines functions when sourced; every entry has a main and a guard.
load common

setup() { valid_env; }

@test "sourcing any script has no side effect (no output, traps, exits, reads, variables or files)" {
    local f before after
    # a topology file that would announce itself if anything read it
    printf 'touch "%s/topology-was-read"\nMMC_WRITE_HOST=from-file\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/topo.env"
    export MMC_TOPOLOGY_FILE="$BATS_TEST_TMPDIR/topo.env"
    for f in "$S"/*.sh; do
        run bash -c '
            . "$2"
            before=$(state)
            . "$1" extra-arg || { echo "sourcing returned $?"; exit 1; }
            after=$(state)
            [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); exit 1; }
            echo survived' _ "$f" "$BATS_TEST_DIRNAME/state.bash"
        [ "$status" -eq 0 ] || { echo "$(basename "$f"): $output"; false; }
        [ "$output" = survived ] || { echo "$(basename "$f") printed: $output"; false; }
    done
    [ ! -e "$BATS_TEST_TMPDIR/topology-was-read" ]
    [ "$(ls -A "$BATS_TEST_TMPDIR")" = topo.env ]
}

@test "every entry script has a main and runs it only when executed" {
    local s
    for s in init run replicate donor probe switchover failover arbiter-member; do
        grep -q '^main() {' "$S/$s.sh" || { echo "$s.sh has no main"; false; }
        grep -qxF 'if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi' "$S/$s.sh" || { echo "$s.sh has no guard"; false; }
        # top level: only comments, sourcing of modules, function definitions and the guard
        run awk '
            /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
            /^[a-z_][a-z_0-9]*\(\) \{/ { depth = 1; if ($0 ~ /\}[[:space:]]*$/ && $0 !~ /\{[[:space:]]*$/) depth = 0; next }
            depth > 0 { if ($0 ~ /^\}/) depth = 0; next }
            /^\. "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/lib-[a-z-]+\.sh"$/ { next }
            /^if \[\[ "\$\{BASH_SOURCE\[0\]\}" == "\$0" \]\]; then main "\$@"; fi$/ { next }
            { print FILENAME ":" NR ": " $0 }' "$S/$s.sh"
        [ -z "$output" ] || { echo "top-level statement: $output"; false; }
    done
}

@test "library files hold only functions" {
    local f
    for f in "$S"/lib-*.sh; do
        run awk '
            /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
            /^[a-z_][a-z_0-9]*\(\) \{/ { if ($0 !~ /\}[[:space:]]*$/ || $0 ~ /\{[[:space:]]*$/) depth = 1; next }
            depth > 0 { if ($0 ~ /^\}/) depth = 0; next }
            { print FILENAME ":" NR ": " $0 }' "$f"
        [ -z "$output" ] || { echo "top-level statement: $output"; false; }
    done
}

@test "the dead helpers are gone" {
    run grep -nE 'mmc_hmac_stream|mmc-admin-v1|MMC_NAMESPACE|MMC_SET_NAME|MMC_REPLICAS|MMC_READ_HOST' "$S"/*.sh
    [ "$status" -eq 1 ] || { echo "$output"; false; }
}

@test "every mmc_ function an entry script calls is defined by the modules it sources" {
    local s fn missing
    for s in init run replicate donor probe switchover failover arbiter-member; do
        missing=$(bash -c '. "$1"; for fn in $(grep -oE "\bmmc_[a-z_0-9]+\b" "$1" | sort -u); do
            declare -F "$fn" >/dev/null || [[ "$fn" == mmc_[a-z]*_[a-z]* && -n "$(compgen -v "$fn")" ]] || echo "$fn"; done' _ "$S/$s.sh")
        [ -z "$missing" ] || { echo "$s.sh calls undefined: $missing"; false; }
    done
}
