#!/usr/bin/env bash
# shellcheck shell=bash
# The context helpers of the admin Jobs (switchover.sh, failover.sh). Their main sets, once per run:
# NEW (the member being promoted), DEADLINE (SECONDS at which the Job gives up) and ADMIN_CRED (the
# admin account's client option file). Sourcing defines functions only.

# remaining -> the seconds left before DEADLINE (0 once it passed).
remaining() { local r=$((DEADLINE - SECONDS)); if [ "$r" -gt 0 ]; then echo "$r"; else echo 0; fi; }
# source_for H [DEFAULT] -> the new primary's name as member H's cluster resolves it (MMC_SOURCE_FOR
# "h=src ..."), else DEFAULT, else NEW.
source_for() { mmc_kv "$1" "$MMC_SOURCE_FOR" || echo "${2:-$NEW}"; }
# q HOST [TIMEOUT] : the SQL on stdin, as the admin account, bounded by TIMEOUT seconds (10).
q() { MMC_SQL_TIMEOUT=${2:-10} mmc_sql_remote "$ADMIN_CRED" "$1"; }
# qf HOST [TIMEOUT] : the same, going on past failing statements (e.g. STOP on a member without a channel).
qf() { MMC_SQL_TIMEOUT=${2:-10} mmc_sql_remote "$ADMIN_CRED" "$1" --force; }
