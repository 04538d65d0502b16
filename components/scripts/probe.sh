#!/usr/bin/env bash
# probes: `live` = the server answers; `ready` = it serves its role: a primary is writable, a replica
# has both replication threads running with lag <= MMC_MAX_LAG_SECONDS.
# `donor-status` prints "<ready|notready> <primary|replica>" (used by donor.sh); `role` prints the role.
set -uo pipefail
MMC_SQL_TIMEOUT=${MMC_SQL_TIMEOUT:-5}
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Sets ROLE (primary|replica|none) and WHY; returns 0 when ready.
evaluate() {
    ROLE=none WHY=""
    local ro
    if [ "$MMC_ENGINE" = mysql ]; then
        ro=$(mmc_q 'SELECT @@GLOBAL.read_only + @@GLOBAL.super_read_only') || { WHY="server does not answer"; return 1; }
    else
        ro=$(mmc_q 'SELECT @@GLOBAL.read_only') || { WHY="server does not answer"; return 1; }
    fi
    declare -A RS
    mmc_read_replica_status || { WHY="cannot read replica status"; return 1; }
    if [ -z "${RS[host]:-}" ]; then
        ROLE=primary
        if [ "$ro" = 0 ]; then return 0; fi
        WHY="no replication channel and read-only (not promoted yet)"
        return 1
    fi
    ROLE=replica
    if [ "${RS[io]}" != Yes ]; then WHY="replication I/O not running (${RS[io]}): ${RS[io_errno]:-} ${RS[io_error]:-}"; return 1; fi
    if [ "${RS[sql]}" != Yes ]; then WHY="replication SQL not running: ${RS[sql_errno]:-} ${RS[sql_error]:-}"; return 1; fi
    local lag=${RS[lag]:-NULL}
    if [ "$lag" = NULL ] || [ -z "$lag" ]; then WHY="lag unknown"; return 1; fi
    if [ "$lag" -gt "$MMC_MAX_LAG_SECONDS" ]; then WHY="lag ${lag}s > ${MMC_MAX_LAG_SECONDS}s"; return 1; fi
    if [ "$ro" = 0 ]; then WHY="replica is writable"; return 1; fi
    return 0
}

case "${1:-ready}" in
    live)
        mmc_q 'SELECT 1' >/dev/null || { echo "server does not answer" >&2; exit 1; }
        ;;
    ready)
        if evaluate; then exit 0; fi
        echo "not ready ($ROLE): $WHY" >&2
        exit 1
        ;;
    donor-status)
        if evaluate; then echo "ready $ROLE"; else echo "notready $ROLE"; fi
        ;;
    role)
        evaluate >/dev/null 2>&1
        echo "$ROLE"
        ;;
    *) echo "usage: probe.sh live|ready|donor-status|role" >&2; exit 2 ;;
esac
