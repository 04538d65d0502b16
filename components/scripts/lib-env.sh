#!/usr/bin/env bash
# shellcheck shell=bash
# Inputs of the data-plane scripts (docs/dataplane-contract.md): validation, the topology file,
# logging, identity helpers. Sourcing defines functions only; an entry script's main calls
# mmc_env_load, which fails fast (one line naming the variable) on a missing or bad input.

# mmc_require VAR... : each VAR set and non-empty, else "VAR is required" and status 2.
mmc_require() {
    local v
    for v in "$@"; do
        [ -n "${!v:-}" ] || { printf 'mmc: %s is required (docs/dataplane-contract.md)\n' "$v" >&2; return 2; }
    done
}
# mmc_require_set VAR... : each VAR set (it may be empty: an empty list).
mmc_require_set() {
    local v
    for v in "$@"; do
        [ -n "${!v+x}" ] || { printf 'mmc: %s is required (it may be empty; docs/dataplane-contract.md)\n' "$v" >&2; return 2; }
    done
}
# mmc_require_uint VAR... : each VAR a non-negative integer.
mmc_require_uint() {
    local v
    mmc_require "$@" || return 2
    for v in "$@"; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || { printf "mmc: %s must be a non-negative integer, got '%s'\n" "$v" "${!v}" >&2; return 2; }
    done
}

# Reads the topology file (phase changes are file updates, not pod restarts). Without
# MMC_TOPOLOGY_FILE the topology variables come from the environment (outside Kubernetes, Jobs).
mmc_load_topology() {
    [ -n "${MMC_TOPOLOGY_FILE:-}" ] || return 0
    [ -f "$MMC_TOPOLOGY_FILE" ] || { printf "mmc: MMC_TOPOLOGY_FILE='%s' is not a file\n" "$MMC_TOPOLOGY_FILE" >&2; return 2; }
    set -a
    # shellcheck disable=SC1090
    . "$MMC_TOPOLOGY_FILE"
    set +a
}

# Inputs every script needs, then the inputs of each entry (ROLE). Topology inputs last: they
# come from the file, which is loaded here once.
mmc_inputs_of() {
    case "$1" in
        init) echo "MMC_PORT MMC_DONOR_PORT MMC_SERVER_ID_BASE MMC_GTID_DOMAIN_ID MMC_DATADIR MMC_CONF_DIR MMC_BASE_CONF MMC_RUN_DIR MMC_SEMI_SYNC MMC_SEED_USER MMC_ROOT_PASSWORD MMC_SEED_PASSWORD MMC_REPL_USER MMC_REPL_PASSWORD MMC_ADMIN_USER MMC_ADMIN_PASSWORD MMC_MAX_LAG_SECONDS MMC_PRIMARY_ORDINAL MMC_EPOCH" ;;
        run) echo "MMC_SERVER_ID_BASE MMC_DATADIR MMC_CONF_DIR MMC_RUN_DIR" ;;
        replicate) echo "MMC_PORT MMC_SERVER_ID_BASE MMC_GTID_DOMAIN_ID MMC_DATADIR MMC_RUN_DIR MMC_SEMI_SYNC MMC_ROOT_PASSWORD MMC_REPL_USER MMC_REPL_PASSWORD MMC_SEED_USER MMC_SEED_PASSWORD MMC_ADMIN_USER MMC_ADMIN_PASSWORD MMC_PRIMARY_ORDINAL MMC_WRITE_HOST MMC_EPOCH" ;;
        donor) echo "MMC_DONOR_PORT MMC_DATADIR MMC_CONF_DIR MMC_RUN_DIR MMC_SEED_USER MMC_SEED_PASSWORD MMC_ROOT_PASSWORD MMC_MAX_LAG_SECONDS" ;;
        probe) echo "MMC_RUN_DIR MMC_ROOT_PASSWORD MMC_MAX_LAG_SECONDS" ;;
        switchover) echo "MMC_PORT MMC_SEMI_SYNC MMC_REPL_USER MMC_REPL_PASSWORD MMC_SEED_USER MMC_ADMIN_USER MMC_ADMIN_PASSWORD MMC_OLD_PRIMARY_HOST MMC_NEW_PRIMARY_HOST MMC_SWITCHOVER_TIMEOUT_SECONDS" ;;
        failover) echo "MMC_PORT MMC_SEMI_SYNC MMC_REPL_USER MMC_REPL_PASSWORD MMC_ADMIN_USER MMC_ADMIN_PASSWORD MMC_NEW_PRIMARY_HOST MMC_EPOCH MMC_SWITCHOVER_TIMEOUT_SECONDS" ;;
        # the failover-agent container: what it uses itself plus what failover.sh (which it runs) needs
        autofailover) echo "MMC_PORT MMC_SERVER_ID_BASE MMC_RUN_DIR MMC_SEMI_SYNC MMC_ROOT_PASSWORD MMC_REPL_USER MMC_REPL_PASSWORD MMC_SEED_USER MMC_ADMIN_USER MMC_ADMIN_PASSWORD MMC_PRIMARY_ORDINAL MMC_EPOCH MMC_SWITCHOVER_TIMEOUT_SECONDS MMC_ARBITER_ENDPOINTS MMC_ARBITER_KEY MMC_LEASE_SECONDS" ;;
        *) printf 'mmc: unknown script role %s\n' "$1" >&2; return 2 ;;
    esac
}
# Inputs that may be empty (lists).
mmc_lists_of() {
    case "$1" in
        init) echo "MMC_PEERS MMC_DONORS MMC_LOST" ;;
        replicate) echo "MMC_PEERS MMC_LOST" ;;
        switchover) echo "MMC_REPLICA_HOSTS MMC_SOURCE_FOR" ;;
        failover) echo "MMC_REPLICA_HOSTS MMC_LOST_HOSTS MMC_SOURCE_FOR" ;;
        autofailover) echo "MMC_PEERS MMC_LOST" ;;
    esac
}
mmc_numeric_inputs() { echo "MMC_PORT MMC_DONOR_PORT MMC_SERVER_ID_BASE MMC_GTID_DOMAIN_ID MMC_MAX_LAG_SECONDS MMC_PRIMARY_ORDINAL MMC_SWITCHOVER_TIMEOUT_SECONDS MMC_EPOCH MMC_LEASE_SECONDS"; }

# mmc_validate ROLE : checks the inputs of ROLE (no reads, no exits); status 2 names the first bad one.
mmc_validate() {
    local role=$1 v vars lists
    mmc_require MMC_ENGINE MMC_POD_NAME || return 2
    case "$MMC_ENGINE" in
        mariadb | mysql) ;;
        *) printf "mmc: MMC_ENGINE must be mariadb or mysql, got '%s'\n" "$MMC_ENGINE" >&2; return 2 ;;
    esac
    vars=$(mmc_inputs_of "$role") || return 2
    lists=$(mmc_lists_of "$role")
    # shellcheck disable=SC2086
    mmc_require $vars || return 2
    # shellcheck disable=SC2086
    [ -z "$lists" ] || mmc_require_set $lists || return 2
    for v in $(mmc_numeric_inputs); do
        case " $vars " in *" $v "*) mmc_require_uint "$v" || return 2 ;; esac
    done
    mmc_tls_validate "$role" || return 2
    if [ -n "${MMC_SEMI_SYNC:-}" ]; then
        case "${MMC_SEMI_SYNC,,}" in
            on | off | true | false | 1 | 0 | yes | no) ;;
            *) printf "mmc: MMC_SEMI_SYNC must be on or off, got '%s'\n" "$MMC_SEMI_SYNC" >&2; return 2 ;;
        esac
    fi
}

# Verified TLS (opt-in): MMC_TLS_DIR holds the set CA (ca.crt) and this member's certificate and key
# (tls.crt, tls.key; PEM, signed by that CA, naming every address the member is reached by). Unset:
# no TLS anywhere, as before. The Jobs need only ca.crt (their account requires TLS, not a certificate).
mmc_tls_on() { [ -n "${MMC_TLS_DIR:-}" ]; }
mmc_tls_files_of() { # ROLE -> the files MMC_TLS_DIR must hold for it
    case "$1" in switchover | failover) echo "ca.crt" ;; *) echo "ca.crt tls.crt tls.key" ;; esac
}
mmc_tls_validate() { # ROLE : status 2 naming MMC_TLS_DIR and the missing file
    mmc_tls_on || return 0
    local f
    # the path goes into socat addresses and SQL literals: plain characters only
    [[ "$MMC_TLS_DIR" =~ ^[A-Za-z0-9/._-]+$ ]] \
        || { printf "mmc: MMC_TLS_DIR='%s' must be a plain path (letters, digits, / . _ -)\n" "$MMC_TLS_DIR" >&2; return 2; }
    for f in $(mmc_tls_files_of "$1"); do
        [ -r "$MMC_TLS_DIR/$f" ] && [ -s "$MMC_TLS_DIR/$f" ] \
            || { printf "mmc: MMC_TLS_DIR='%s' has no readable %s (PEM: ca.crt, tls.crt, tls.key)\n" "$MMC_TLS_DIR" "$f" >&2; return 2; }
    done
}

# mmc_env_load ROLE : the entry's setup: topology file, validation, names derived from the inputs.
mmc_env_load() {
    export LC_ALL=C
    # shellcheck disable=SC2034  # used by the scripts that start other scripts
    MMC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    mmc_trap_term
    mmc_load_topology || return 2
    mmc_validate "$1" || return 2
    MMC_COMPONENT=${MMC_COMPONENT:-$1}
    # shellcheck disable=SC2034  # names the sourcing scripts use
    {
        MMC_SOCKET="${MMC_RUN_DIR:-}/mysqld.sock"
        MMC_CNF="${MMC_CONF_DIR:-}/my.cnf"
        MMC_TRUSTED="${MMC_DATADIR:-}/.mmc-trusted"
        MMC_UNTRUSTED="${MMC_DATADIR:-}/.mmc-untrusted"
        MMC_SET_ASIDE="${MMC_DATADIR:-}/.mmc-set-aside"
        MMC_OWNER="${MMC_DATADIR:-}/.mmc-owner"
        MMC_CRED_STAMP="${MMC_DATADIR:-}/.mmc-credentials"
        read -r MMC_STAGING MMC_CLONE_INST <<<"$(mmc_engine_work_dirs)"
        MMC_STAGING="${MMC_DATADIR:-}/$MMC_STAGING"
        MMC_CLONE_INST="${MMC_DATADIR:-}/$MMC_CLONE_INST"
        MMC_SEED_GTID="${MMC_DATADIR:-}/.mmc-seed-gtid"
        MMC_SEED_SOURCE="${MMC_DATADIR:-}/.mmc-seed-source"
        MMC_CLIENT=$(mmc_engine_client)
        MMC_SERVER=$(mmc_engine_server)
    }
}

# A private directory for this process (credential files, fifos), removed on exit; named after the
# process (mmc.<pid>.*) so that one left by a process that is gone can be told apart (test:dataplane).
mmc_tmp_init() {
    MMC_TMP=$(umask 077; mktemp -d "${TMPDIR:-/tmp}/mmc.$$.XXXXXX") || { mmc_log "mktemp failed"; return 1; }
    # shellcheck disable=SC2064  # expand now: the directory of this process
    trap "rm -rf -- '$MMC_TMP'" EXIT
}

# A container's PID 1 gets no default signal action: without a handler the kubelet's SIGTERM is
# ignored and the pod waits out its grace period. Every entry stops on SIGTERM/SIGINT (mmc_env_load);
# bash runs a handler only when the foreground command returns, so waits use mmc_sleep and long
# children mmc_supervise.
mmc_on_term() { mmc_log "SIGTERM: stopping"; exit 143; }
mmc_trap_term() { trap mmc_on_term TERM INT; }
mmc_sleep() { sleep "$1" & wait "$!"; }
# mmc_supervise CMD... : runs CMD in its own process group; SIGTERM goes to the whole group, which
# is awaited, then this process stops (status 143). Otherwise returns CMD's status.
mmc_supervise() {
    local c rc=0 pidfile=""
    if [ "${1:-}" = --pidfile ]; then pidfile=$2; shift 2; fi
    got_sigterm=""
    set -m
    "$@" &
    c=$!
    set +m
    [ -z "$pidfile" ] || echo "$c" >"$pidfile"
    # shellcheck disable=SC2064  # the child's group, fixed now
    trap "got_sigterm=1; kill -TERM -- -$c 2>/dev/null" TERM INT
    while :; do
        rc=0
        wait "$c" || rc=$?
        kill -0 "$c" 2>/dev/null || break
    done
    [ -z "$pidfile" ] || rm -f "$pidfile"
    mmc_trap_term
    [ -z "$got_sigterm" ] || mmc_on_term
    return "$rc"
}

mmc_log() { printf '%s %s/%s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${MMC_POD_NAME:-?}" "${MMC_COMPONENT:-?}" "$*" >&2; }
mmc_die() { mmc_log "FATAL: $*"; exit 1; }
# Milliseconds since the epoch, without a process (stage timings in the logs).
mmc_now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo "${t:0:13}"; }

# mmc_ordinal -> the suffix after the last "-" of MMC_POD_NAME.
mmc_ordinal() {
    local o="${MMC_POD_NAME##*-}"
    [[ "$o" =~ ^[0-9]+$ ]] || { mmc_log "cannot take an ordinal from MMC_POD_NAME='$MMC_POD_NAME'"; return 1; }
    echo "$o"
}
mmc_server_id() { local o; o=$(mmc_ordinal) || return 1; echo $((MMC_SERVER_ID_BASE + o)); }
mmc_is_primary_ordinal() { [ "$(mmc_ordinal)" = "$MMC_PRIMARY_ORDINAL" ]; }

# mmc_kv KEY LIST -> value of KEY in a "k=v k=v" list (MMC_PEERS, MMC_SOURCE_FOR); status 1 if absent.
mmc_kv() {
    local want=$1 kv
    for kv in $2; do
        if [ "${kv%%=*}" = "$want" ]; then echo "${kv#*=}"; return 0; fi
    done
    return 1
}
# Host of an ordinal from MMC_PEERS ("0=host0 1=host1 ...").
mmc_peer_host() { mmc_kv "$1" "${MMC_PEERS:-}"; }
mmc_self_host() { mmc_peer_host "$(mmc_ordinal)" || hostname -f 2>/dev/null || hostname; }

mmc_semi_sync_on() { case "${MMC_SEMI_SYNC,,}" in on | true | 1 | yes) return 0 ;; *) return 1 ;; esac; }

mmc_run_as_args() { if [ "$(id -u)" = 0 ]; then echo "--user=mysql"; fi; }
mmc_chown_data() { if [ "$(id -u)" = 0 ] && id mysql >/dev/null 2>&1; then chown -R mysql:mysql "$@"; fi; }
