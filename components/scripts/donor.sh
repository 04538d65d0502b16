#!/usr/bin/env bash
# donor sidecar (MariaDB): serves an authenticated, encrypted, integrity-checked mariadb-backup
# stream on $MMC_DONOR_PORT. Only a client that knows the seed secret gets data, and the client
# only trusts data from a donor that knows it.
#
# Protocol (one TCP connection, text lines then binary):
#   donor  -> "MMC-DONOR 1 <ns> <ready|notready> <primary|replica>"   ns: 128-bit random nonce
#   client -> "<status|seed> <nc> HMAC(secret, 'mmc-client|ns|nc|cmd')" nc: client nonce
#   donor  -> "OK HMAC(secret, 'mmc-donor|ns|nc|cmd')"  or "ERR <why>" (bad proof, not ready)
#   seed:  donor -> AES-256-CTR(mbstream) with a key derived from HMAC(secret,'mmc-enc|ns|nc'),
#          until EOF; the donor keeps the tag HMAC(HMAC(secret,'mmc-mac|ns|nc'), ciphertext)
#          (encrypt-then-MAC) only if the backup completed.
#   mac:<ns>: (second connection, same handshake) donor -> "MAC <tag>" of seed session ns, or "MAC failed".
# Fresh nonces on both sides make every session key unique and replays useless; the tag makes a
# truncated stream (donor killed mid-seed) or a tampered one fail verification, so it is never used.
# HMAC is built from `openssl dgst -sha256` with the key fed on stdin: no secret on a command line.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

serve() {
    if [ "$MMC_ENGINE" != mariadb ]; then
        mmc_log "engine $MMC_ENGINE seeds with CLONE; no donor stream to serve"
        exec sleep infinity
    fi
    [ -n "${MMC_SEED_PASSWORD:-}" ] || mmc_die "MMC_SEED_PASSWORD is required"
    local bind=""
    [ -n "$MMC_BIND_ADDRESS" ] && bind=",bind=$MMC_BIND_ADDRESS"
    mmc_log "serving seed streams on port $MMC_DONOR_PORT"
    exec socat -b 262144 "TCP-LISTEN:$MMC_DONOR_PORT,reuseaddr,fork,max-children=4$bind" "EXEC:bash $MMC_DIR/donor.sh handle"
}

handle() {
    local peer="${SOCAT_PEERADDR:-?}" ns status cmd nc mac
    ns=$(mmc_nonce)
    status=$(bash "$MMC_DIR/probe.sh" donor-status 2>/dev/null) || status="notready unknown"
    printf 'MMC-DONOR 1 %s %s\n' "$ns" "$status"
    if ! read -r -t 10 cmd nc mac; then mmc_log "client $peer sent nothing"; exit 0; fi
    case "$cmd" in status|seed|mac:*) ;; *) printf 'ERR protocol\n'; mmc_log "bad request from $peer"; exit 0 ;; esac
    if ! [[ "$nc" =~ ^[0-9a-f]{32}$ ]] || [ "$mac" != "$(mmc_hmac "$MMC_SEED_PASSWORD" "mmc-client|$ns|$nc|$cmd")" ]; then
        printf 'ERR auth\n'
        mmc_log "rejected $cmd from $peer: authentication failed"
        exit 0
    fi
    if [ "$cmd" = seed ] && [ "${status%% *}" != ready ]; then
        printf 'ERR notready\n'
        mmc_log "refused seed to $peer: this member is not ready ($status)"
        exit 0
    fi
    printf 'OK %s\n' "$(mmc_hmac "$MMC_SEED_PASSWORD" "mmc-donor|$ns|$nc|$cmd")"
    local macdir="${TMPDIR:-/tmp}"
    case "$cmd" in
        status) exit 0 ;;
        mac:*)
            # the integrity tag of an earlier seed session (by its donor nonce)
            local sid=${cmd#mac:} i
            [[ "$sid" =~ ^[0-9a-f]{32}$ ]] || exit 0
            for ((i = 0; i < 300; i++)); do [ -s "$macdir/mmc-seed-mac.$sid" ] && break; sleep 0.1; done
            printf 'MAC %s\n' "$(cat "$macdir/mmc-seed-mac.$sid" 2>/dev/null || echo none)"
            rm -f "$macdir/mmc-seed-mac.$sid"
            exit 0 ;;
    esac

    mmc_log "streaming a backup to $peer ($status)"
    local tmp encpass mackey salt cred rc=0 t0 tag
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmc-donor.XXXXXX"); MMC_TMPFILES+=("$tmp")
    encpass=$(mmc_hmac "$MMC_SEED_PASSWORD" "mmc-enc|$ns|$nc")
    mackey=$(mmc_hmac "$MMC_SEED_PASSWORD" "mmc-mac|$ns|$nc")
    salt=${ns:0:16}
    cred=$(mmc_cred_file "$MMC_SEED_USER" "$MMC_SEED_PASSWORD")
    # mariadb-backup takes one defaults file: the server config plus the seed credentials
    printf '!include %s\n' "$MMC_CNF" >>"$cred"
    mmc_hmac_open "$mackey" "$tmp"
    t0=$SECONDS
    mariadb-backup --defaults-file="$cred" --backup --stream=mbstream \
        --target-dir="$tmp" --socket="$MMC_SOCKET" --parallel="${MMC_DONOR_PARALLEL:-2}" \
        --log-copy-interval="${MMC_DONOR_LOG_COPY_INTERVAL_MS:-20}" 2>"$tmp/backup.log" \
        | openssl enc -bufsize 1048576 -aes-256-ctr -pbkdf2 -iter 1 -md sha256 -S "$salt" -pass fd:3 3< <(printf '%s\n' "$encpass") \
        | tee "/dev/fd/$MMC_HMAC_FD" || rc=$?
    mmc_hmac_close || rc=1
    tag=$MMC_HMAC_TAG
    if [ "$rc" = 0 ] && grep -q 'completed OK' "$tmp/backup.log"; then
        printf '%s\n' "$tag" >"$macdir/mmc-seed-mac.$ns.tmp" && mv -f "$macdir/mmc-seed-mac.$ns.tmp" "$macdir/mmc-seed-mac.$ns"
        mmc_log "backup streamed to $peer in $((SECONDS - t0)) s"
    else
        tail -n 15 "$tmp/backup.log" >&2
        printf 'failed\n' >"$macdir/mmc-seed-mac.$ns"
        mmc_log "backup to $peer FAILED (rc=$rc); its integrity tag is withheld, the client discards the copy"
    fi
}

case "${1:-serve}" in
    serve) serve ;;
    handle) handle ;;
    *) mmc_die "usage: donor.sh [serve|handle]" ;;
esac
