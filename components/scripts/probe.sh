#!/usr/bin/env bash
# probes: `live` = the server answers its protocol, even when busy (lib-sql.sh mmc_ping); `ready` = it serves its role: a primary is writable, a replica
# has both replication threads running with lag <= MMC_MAX_LAG_SECONDS.
# `donor-status` prints "<ready|notready> <primary|replica>" (used by donor.sh); `role` prints the role.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"

# mmc_judge RO STATUS MAX_LAG -> "<role><TAB><why>" (why empty when ready); status 0 when ready.
# RO: the server's read-only value (0 = writable); STATUS: mmc_replica_status output.
mmc_judge() {
    local ro=$1 st=$2 max=$3 io sql lag
    if [ -z "$(mmc_field host "$st")" ]; then
        if [ "$ro" = 0 ]; then printf 'primary\t\n'; return 0; fi
        printf 'primary\tno replication channel and read-only (not promoted yet)\n'; return 1
    fi
    io=$(mmc_field io "$st") sql=$(mmc_field sql "$st") lag=$(mmc_field lag "$st")
    if [ "$io" != Yes ]; then printf 'replica\treplication I/O not running (%s): %s %s\n' "$io" "$(mmc_field io_errno "$st")" "$(mmc_field io_error "$st")"; return 1; fi
    if [ "$sql" != Yes ]; then printf 'replica\treplication SQL not running: %s %s\n' "$(mmc_field sql_errno "$st")" "$(mmc_field sql_error "$st")"; return 1; fi
    if [ "$lag" = NULL ] || [ -z "$lag" ]; then printf 'replica\tlag unknown\n'; return 1; fi
    if [ "$lag" -gt "$max" ]; then printf 'replica\tlag %ss > %ss\n' "$lag" "$max"; return 1; fi
    if [ "$ro" = 0 ]; then printf 'replica\treplica is writable\n'; return 1; fi
    printf 'replica\t\n'
}

# evaluate -> "<role><TAB><why>" of the local server; status 0 when ready.
evaluate() {
    local ro st
    ro=$(mmc_q "SELECT $(mmc_sql_writable_expr)") || { printf 'none\tserver does not answer\n'; return 1; }
    st=$(mmc_replica_status) || { printf 'none\tcannot read replica status\n'; return 1; }
    mmc_judge "$ro" "$st" "$MMC_MAX_LAG_SECONDS"
}

main() {
    set -uo pipefail
    MMC_SQL_TIMEOUT=${MMC_SQL_TIMEOUT:-5}
    mmc_env_load probe || exit 2
    mmc_tmp_init || exit 1
    local out rc=0 role why
    case "${1:-ready}" in
        live)
            # a re-seed in progress (run.sh runs init.sh, see there) is alive: never killed by a probe
            if [ -f "$MMC_RUN_DIR/mmc-seeding" ] && kill -0 "$(cat "$MMC_RUN_DIR/mmc-seeding" 2>/dev/null)" 2>/dev/null; then
                echo "seeding (init.sh pid $(cat "$MMC_RUN_DIR/mmc-seeding")): alive, not ready" >&2
                exit 0
            fi
            mmc_ping || { echo "server does not answer (no handshake within 4 s)" >&2; exit 1; }
            ;;
        ready)
            out=$(evaluate) || rc=$?
            [ "$rc" = 0 ] && exit 0
            IFS=$'\t' read -r role why <<<"$out"
            echo "not ready ($role): $why" >&2
            exit 1
            ;;
        donor-status)
            out=$(evaluate) || rc=$?
            role=${out%%$'\t'*}
            if [ "$rc" = 0 ]; then echo "ready $role"; else echo "notready $role"; fi
            ;;
        role)
            out=$(evaluate 2>/dev/null)
            echo "${out%%$'\t'*}"
            ;;
        *) echo "usage: probe.sh live|ready|donor-status|role" >&2; exit 2 ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
