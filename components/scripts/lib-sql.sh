#!/usr/bin/env bash
# shellcheck shell=bash
# Client invocation and credentials. Secrets never reach a command line or a log: passwords go to
# clients through private option files (in the process's MMC_TMP), to SQL through stdin.
# Sourcing defines functions only.

# Option-file value: double-quoted, backslashes and quotes escaped.
mmc_optquote() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# SQL string literal (single quotes, backslashes escaped).
mmc_lit() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }

# mmc_cred_file NAME USER PASSWORD -> path of a mode-0600 option file ([client] and [mariadb-backup])
# in MMC_TMP, named after NAME (so callers in subshells and the parent share it).
mmc_cred_file() {
    local f="${MMC_TMP:?mmc_tmp_init was not called}/cred-$1.cnf" g
    # Written aside and renamed: a client of another subshell reading the file never sees it half
    # written (it would then connect as the OS user: as root that hid the race behind unix_socket).
    (
        umask 077
        for g in client mariadb-backup; do
            printf '[%s]\nuser=%s\npassword=%s\n' "$g" "$2" "$(mmc_optquote "$3")"
        done >"$f.$BASHPID" && mv -f "$f.$BASHPID" "$f"
    ) || { mmc_log "cannot write a credential file in $MMC_TMP"; return 1; }
    echo "$f"
}
mmc_root_cred() { mmc_cred_file root root "$MMC_ROOT_PASSWORD"; }
mmc_admin_cred() { mmc_cred_file admin "$MMC_ADMIN_USER" "$MMC_ADMIN_PASSWORD"; }
mmc_repl_cred() { mmc_cred_file repl "$MMC_REPL_USER" "$MMC_REPL_PASSWORD"; }
mmc_seed_cred() { mmc_cred_file seed "$MMC_SEED_USER" "$MMC_SEED_PASSWORD"; }

# mmc_sql_local [client args...] : SQL on stdin, root over the local socket; tab-separated, no headers.
mmc_sql_local() {
    local cred
    cred=$(mmc_root_cred) || return 1
    timeout "${MMC_SQL_TIMEOUT:-20}" "$MMC_CLIENT" --defaults-extra-file="$cred" --socket="$MMC_SOCKET" \
        --protocol=socket --connect-timeout=5 -N -B "$@"
}
mmc_q() { printf '%s\n' "$1" | mmc_sql_local; }
# mmc_sql_remote CREDFILE HOST [client args...] : SQL on stdin.
# With MMC_TLS_DIR: verified TLS (mmc_engine_tls_client_args); without, the same command as always.
mmc_sql_remote() {
    local cred=$1 host=$2 tls=()
    shift 2
    if mmc_tls_on; then mapfile -t tls < <(mmc_engine_tls_client_args); fi
    timeout "${MMC_SQL_TIMEOUT:-20}" "$MMC_CLIENT" --defaults-extra-file="$cred" "${tls[@]}" -h "$host" -P "$MMC_PORT" \
        --protocol=tcp --connect-timeout=3 -N -B "$@"
}
mmc_qr() { printf '%s\n' "$3" | mmc_sql_remote "$1" "$2"; }
# mmc_qr_answered CREDFILE HOST SQL : as mmc_qr, but tells "nobody answered" (status 1: no server at
# HOST, connection refused or lost, timeout) from "a server answered and refused" (status 3: access
# denied, missing privilege, any SQL error; the client's first error line, redacted, on stderr). A member
# that refuses our credentials exists: it must never be taken for an absent one.
mmc_qr_answered() {
    local out errf rc=0
    errf="${MMC_TMP:?mmc_tmp_init was not called}/qr-err.$BASHPID"
    out=$(mmc_qr "$1" "$2" "$3" 2>"$errf") || rc=$?
    if [ "$rc" = 0 ]; then rm -f "$errf"; printf '%s\n' "$out"; return 0; fi
    local err
    err=$(grep -m1 '^ERROR' "$errf" | mmc_redact)
    rm -f "$errf"
    # with TLS, a server whose certificate fails verification (2026) answered: a member exists there
    if mmc_tls_on && [[ "$err" =~ ^ERROR\ 2026 ]]; then printf '%s\n' "$err" >&2; return 3; fi
    # client-side errors (2xxx: cannot connect, unknown host, gone away, lost connection) and timeouts
    if [ -z "$err" ] || [[ "$err" =~ ^ERROR\ 2[0-9]{3} ]]; then return 1; fi
    printf '%s\n' "$err" >&2
    return 3
}

# Client output with any password literal replaced: the client echoes a failed statement.
mmc_redact() { sed -E "s/((PASSWORD|IDENTIFIED BY)[[:space:]]*=?[[:space:]]*)'([^'\\\\]|\\\\.)*'/\\1'<redacted>'/Ig"; }

mmc_local_alive() { mmc_q 'SELECT 1' >/dev/null 2>&1; }

# Liveness, with `mysqladmin ping` semantics: the server is alive when it answers its protocol on
# the socket within 4 s, even when it refuses the session with a server error (1040 too many
# connections, 1045 access denied, ...): a saturated server is busy, not dead. A client error
# (2002 no socket, 2013 no handshake) or no answer in time (hung, stopped) is not alive.
# The engine client is used (the same for both engines) and its error classified here.
mmc_ping() {
    local err code
    err=$(printf 'SELECT 1\n' | MMC_SQL_TIMEOUT=4 mmc_sql_local --connect-timeout=3 2>&1 >/dev/null) && return 0
    # a server error, also when the client wraps it (MariaDB's client, TLS on by default: "ERROR 2002
    # ... The authenticity of the following error cannot be verified: 1040 - Too many connections")
    if [[ "$err" =~ cannot\ be\ verified:\ ([0-9]+)\ - ]] || [[ "$err" =~ ERROR\ ([0-9]+) ]]; then code=${BASH_REMATCH[1]}; else return 1; fi
    [ "$code" -lt 2000 ] || [ "$code" -ge 3000 ]
}

# Replica status (`SHOW ... STATUS\G` output on stdin) as "key<TAB>value" lines with engine-neutral
# keys; empty when no channel. Keys: host io sql lag io_errno io_error sql_errno sql_error sql_state
mmc_replica_status_filter() {
    awk '
        BEGIN {
            map["Master_Host"]="host"; map["Source_Host"]="host"
            map["Slave_IO_Running"]="io"; map["Replica_IO_Running"]="io"
            map["Slave_SQL_Running"]="sql"; map["Replica_SQL_Running"]="sql"
            map["Seconds_Behind_Master"]="lag"; map["Seconds_Behind_Source"]="lag"
            map["Last_IO_Errno"]="io_errno"; map["Last_IO_Error"]="io_error"
            map["Last_SQL_Errno"]="sql_errno"; map["Last_SQL_Error"]="sql_error"
            map["Slave_SQL_Running_State"]="sql_state"; map["Replica_SQL_Running_State"]="sql_state"
        }
        /^\*+ .* row \*+$/ { next }
        {
            i = index($0, ":"); if (i == 0) next
            k = $0; sub(/^[ \t]+/, "", k); k = substr(k, 1, index(k, ":") - 1)
            v = substr($0, i + 1); sub(/^ /, "", v)
            if (k in map) printf "%s\t%s\n", map[k], v
        }'
}
# mmc_replica_status [CREDFILE HOST] : prints the filtered status of a remote server, or of the
# local one without arguments; status 1 when the server cannot be asked.
mmc_replica_status() {
    if [ $# -eq 2 ]; then
        mmc_engine_sql_replica_status | mmc_sql_remote "$1" "$2" -E --column-names | mmc_replica_status_filter
    else
        mmc_engine_sql_replica_status | mmc_sql_local -E --column-names | mmc_replica_status_filter
    fi
}
# mmc_field KEY STATUS -> the value of KEY in "key<TAB>value" lines (empty when absent).
mmc_field() {
    local k v
    while IFS=$'\t' read -r k v; do
        if [ "$k" = "$1" ]; then printf '%s\n' "$v"; return 0; fi
    done <<<"$2"
    return 0
}

# Highest seq_no of domain D in a GTID position string (MariaDB "d-s-n,...").
mmc_gtid_seq() {
    local pos=$1 dom=$2 g
    local IFS=,
    for g in $pos; do
        g=${g// /}
        if [ "${g%%-*}" = "$dom" ]; then echo "${g##*-}"; return; fi
    done
    echo 0
}

# Accounts whose connections a demotion keeps (everything else is an application session).
mmc_system_users_sql_list() {
    printf "%s, %s, %s, 'root', 'system user', 'event_scheduler'" "$(mmc_lit "$MMC_REPL_USER")" "$(mmc_lit "$MMC_SEED_USER")" "$(mmc_lit "$MMC_ADMIN_USER")"
}

# mmc_gtid_missing_mariadb A B -> the GTIDs "d-s-n" of MariaDB GTID list A that list B does not cover,
# comma-separated (empty when B covers A). An entry d-s-n of A is covered when B has an entry of the
# same domain d and server s with a seq_no >= n, or, when A names a server B never lists, when B's
# highest seq_no in domain d is >= n and B's own entry for d is not from a different lineage
# (a position, one GTID per domain: seq_nos of one domain grow across every primary of one history).
# With gtid_binlog_state values (every domain and server) it finds errant transactions: those of a
# server that B has fewer of.
mmc_gtid_missing_mariadb() {
    local a=$1 b=$2 g d s n bg bd bs bn out="" covered
    local IFS=,
    for g in $a; do
        g=${g// /}
        [ -n "$g" ] || continue
        IFS=- read -r d s n <<<"$g"
        covered=0
        local same="" dommax=0
        for bg in $b; do
            bg=${bg// /}
            [ -n "$bg" ] || continue
            IFS=- read -r bd bs bn <<<"$bg"
            [ "$bd" = "$d" ] || continue
            [ "$bn" -gt "$dommax" ] && dommax=$bn
            [ "$bs" = "$s" ] && same=$bn
        done
        if [ -n "$same" ]; then [ "$same" -ge "$n" ] && covered=1
        elif [ "$dommax" -ge "$n" ]; then covered=1; fi
        [ "$covered" = 1 ] || out+="${out:+,}$g"
    done
    printf '%s\n' "$out"
}
