#!/usr/bin/env bash
# shellcheck shell=bash
# The arbiter client (docs/dataplane-contract.md "Automatic failover"): etcd v3, spoken through its
# JSON gateway (POST /v3/...) over bash's /dev/tcp, so the database image needs no etcdctl and no curl.
# Every call has a hard time limit (MMC_ARB_TIMEOUT seconds per endpoint, default 2): a partitioned
# endpoint whose packets are dropped never blocks a caller longer than that (bash's /dev/tcp has no
# connect timeout of its own, so each exchange runs in a child under timeout(1)).
# Endpoints: MMC_ARBITER_ENDPOINTS, "host:port ..." (the voters' client ports); a call tries the one that
# answered last first, then the others. Reads are linearizable (etcd's default): a voter cut off from the
# Raft majority answers nothing, so "no answer" and "absent" are never confused.
# etcd's JSON: keys and values base64, 64-bit integers as strings, false and zero fields omitted.

# MMC_ARB_LAST: the endpoint that answered last (set by the calls; unset at first). MMC_ARB_OUT: the last
# call's JSON. The calls leave their results in variables of the caller's shell: call them without $(...).

mmc_b64() { printf '%s' "$1" | base64 -w0; }
mmc_unb64() { printf '%s' "$1" | base64 -d 2>/dev/null; }

# mmc_json_field NAME JSON -> the first value of "NAME" (string or bare number/boolean), unquoted;
# status 1 when absent.
mmc_json_field() {
    local re="\"$1\":\"([^\"]*)\"" re2="\"$1\":([-0-9a-z.]+)"
    if [[ $2 =~ $re ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; return 0; fi
    if [[ $2 =~ $re2 ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; return 0; fi
    return 1
}

# mmc_arb_http HOST:PORT PATH JSON [stream] -> the response's JSON line; status 1: no answer in time,
# HTTP status other than 200, or no JSON. "stream": the endpoint streams (lease keepalive): the first
# result line is taken and the connection closed.
mmc_arb_http() {
    local hp=$1
    # shellcheck disable=SC2016 # the child's own expansions
    timeout "${MMC_ARB_TIMEOUT:-2}" bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" \
            "$3" "$1" "${#4}" "$4" >&3
        IFS= read -r status <&3 || exit 1
        [[ $status == "HTTP/1."?" 200"* ]] || exit 1
        while IFS= read -r line <&3; do [ "${line%$'\''\r'\''}" = "" ] && break; done
        while IFS= read -r line <&3 || [ -n "$line" ]; do
            case $line in
                "{"*) printf "%s\n" "${line%$'\''\r'\''}"; exit 0 ;;
            esac
        done
        exit 1
    ' mmc-arb "${hp%:*}" "${hp##*:}" "$2" "$3" 2>/dev/null
}

# mmc_arb_call PATH JSON [stream] : the answer in MMC_ARB_OUT (a variable of the caller's shell: call it,
# and every function below, without $(...), or MMC_ARB_LAST is lost with the subshell and the next call
# waits on the listed order again). Tries MMC_ARB_LAST first, then MMC_ARBITER_ENDPOINTS in order; the
# first endpoint whose JSON has no "error" answers (status 0) and is remembered in MMC_ARB_LAST. An
# endpoint that refuses (etcd's "error": no leader, request timed out, lease not found...) does not hide a
# later one that answers: when none answers but one refused, status 3 with the last refusal in
# MMC_ARB_OUT; when none gave any JSON in time, status 1.
mmc_arb_call() {
    local hp out refused="" order=${MMC_ARB_LAST:-}
    MMC_ARB_OUT=""
    for hp in $MMC_ARBITER_ENDPOINTS; do [ "$hp" = "${MMC_ARB_LAST:-}" ] || order+=" $hp"; done
    for hp in $order; do
        out=$(mmc_arb_http "$hp" "$1" "$2" ${3:+"$3"}) || continue
        MMC_ARB_OUT=$out
        case $out in *'"error"'*) refused=1; continue ;; esac
        MMC_ARB_LAST=$hp
        return 0
    done
    [ -n "$refused" ] && return 3
    return 1
}

# mmc_arb_get KEY : sets MMC_ARB_VALUE (decoded), MMC_ARB_REV (its mod_revision) and MMC_ARB_LEASE (its
# lease, 0: none); status 0: present; 3: no such key (the three empty/0); 1: no answer (or refused).
# shellcheck disable=SC2034 # results for the caller
mmc_arb_get() {
    local v rc=0
    MMC_ARB_VALUE="" MMC_ARB_REV=0 MMC_ARB_LEASE=0
    mmc_arb_call /v3/kv/range "{\"key\":\"$(mmc_b64 "$1")\"}" || rc=$?
    [ "$rc" = 0 ] || return 1
    case $MMC_ARB_OUT in *'"kvs"'*) ;; *) return 3 ;; esac
    MMC_ARB_REV=$(mmc_json_field mod_revision "$MMC_ARB_OUT") || MMC_ARB_REV=0
    MMC_ARB_LEASE=$(mmc_json_field lease "$MMC_ARB_OUT") || MMC_ARB_LEASE=0
    v=$(mmc_json_field value "$MMC_ARB_OUT") || v=""
    MMC_ARB_VALUE=$(mmc_unb64 "$v")
}

# mmc_arb_grant TTL_SECONDS : the new lease's ID in MMC_ARB_ID; status 1: no answer (or refused).
# shellcheck disable=SC2034 # results for the caller
mmc_arb_grant() {
    MMC_ARB_ID=""
    mmc_arb_call /v3/lease/grant "{\"TTL\":\"$1\"}" || return 1
    MMC_ARB_ID=$(mmc_json_field ID "$MMC_ARB_OUT") || return 1
}

# mmc_arb_keepalive ID -> the lease's TTL as renewed (printed, and in MMC_ARB_TTL); status 3: the lease
# is gone (etcd answers a keepalive of an expired or revoked lease with no TTL); 1: no answer, or every
# endpoint refused (no leader, request timed out: transient, never read as "gone"). Time the call from
# before it starts: the arbiter's TTL runs from when it got it.
# shellcheck disable=SC2034 # results for the caller
mmc_arb_keepalive() {
    MMC_ARB_TTL=""
    mmc_arb_call /v3/lease/keepalive "{\"ID\":\"$1\"}" stream || return 1
    MMC_ARB_TTL=$(mmc_json_field TTL "$MMC_ARB_OUT") || { MMC_ARB_TTL=""; return 3; }
    [ "$MMC_ARB_TTL" -gt 0 ] 2>/dev/null || { MMC_ARB_TTL=""; return 3; }
    echo "$MMC_ARB_TTL"
}

# mmc_arb_revoke ID : the lease and every key attached to it are gone at once.
mmc_arb_revoke() { mmc_arb_call /v3/lease/revoke "{\"ID\":\"$1\"}"; }

# mmc_arb_txn JSON -> status 0: the comparisons held and the success operations ran; 4: they did not
# (the failure operations ran); 1: no answer; 3: refused.
mmc_arb_txn() {
    local rc=0
    mmc_arb_call /v3/kv/txn "$1" || rc=$?
    [ "$rc" = 0 ] || return "$rc"
    case $MMC_ARB_OUT in *'"succeeded":true'*) return 0 ;; *) return 4 ;; esac
}

# JSON pieces of a transaction (keys and values base64 here).
# mmc_arb_cmp_absent KEY ; mmc_arb_cmp_value KEY VALUE ; mmc_arb_put KEY VALUE [LEASE] ; mmc_arb_del KEY
mmc_arb_cmp_absent() { printf '{"key":"%s","target":"CREATE","result":"EQUAL","create_revision":"0"}' "$(mmc_b64 "$1")"; }
mmc_arb_cmp_value() { printf '{"key":"%s","target":"VALUE","result":"EQUAL","value":"%s"}' "$(mmc_b64 "$1")" "$(mmc_b64 "$2")"; }
mmc_arb_put() {
    printf '{"request_put":{"key":"%s","value":"%s"%s}}' "$(mmc_b64 "$1")" "$(mmc_b64 "$2")" "${3:+,\"lease\":\"$3\"}"
}
mmc_arb_del() { printf '{"request_delete_range":{"key":"%s"}}' "$(mmc_b64 "$1")"; }
