#!/usr/bin/env bash
# donor sidecar (MariaDB): serves an authenticated, encrypted, integrity-checked mariadb-backup
# stream on $MMC_DONOR_PORT. With MMC_TLS_DIR: over mutual TLS (handle_tls; protocol in lib-stream.sh);
# without, the hand-built protocol below. Only a client that knows the seed secret gets data, and the client
# only trusts data from a donor that knows it.
#
# Protocol (one TCP connection, text lines then binary):
#   donor  -> "MMC-DONOR 1 <ns> <ready|notready> <primary|replica>"   ns: 128-bit random nonce
#   client -> "<status|seed|seed-waiting> <nc> HMAC(secret, 'mmc-client|ns|nc|cmd')" nc: client nonce
#   donor  -> "OK HMAC(secret, 'mmc-donor|ns|nc|cmd')"  or "ERR <why>" (bad proof, not ready)
#   seed-waiting: as seed, from a primary that is read-only waiting for its quorum (not "ready");
#          served only by a member without a channel (docs/dataplane-contract.md "Epoch and fencing")
#   seed:  donor -> AES-256-CTR(mbstream) with a key derived from HMAC(secret,'mmc-enc|ns|nc'),
#          until EOF; the donor keeps the tag HMAC(HMAC(secret,'mmc-mac|ns|nc'), ciphertext)
#          (encrypt-then-MAC) only if the backup completed.
#   mac:<ns>: (second connection, same handshake) donor -> "MAC <tag>" of seed session ns, or "MAC failed".
# Fresh nonces on both sides make every session key unique and replays useless; the tag makes a
# truncated stream (donor killed mid-seed) or a tampered one fail verification, so it is never used.
# HMAC is built from `openssl dgst -sha256` with the key fed on stdin: no secret on a command line.
# shellcheck source=lib-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-env.sh"
# shellcheck source=lib-sql.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-sql.sh"
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
# shellcheck source=lib-stream.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-stream.sh"

serve() {
    if [ "$(mmc_engine_seed_method)" != stream ]; then
        mmc_log "engine $MMC_ENGINE seeds with CLONE; no donor stream to serve"
        while :; do mmc_sleep 3600; done
    fi
    local bind=""
    [ -n "${MMC_BIND_ADDRESS:-}" ] && bind=",bind=$MMC_BIND_ADDRESS"
    if mmc_tls_on; then
        mmc_log "serving seed streams on port $MMC_DONOR_PORT (mutual TLS, the set CA)"
        # pipes, not a socket pair, to the handler: its stream's pipe can grow (mmc_pipe_grow)
        exec socat -b 1048576 "$(mmc_tls_listen_addr "$MMC_DONOR_PORT" "${MMC_BIND_ADDRESS:-}")" "EXEC:bash $MMC_DIR/donor.sh handle-tls,pipes"
    fi
    mmc_log "serving seed streams on port $MMC_DONOR_PORT"
    exec socat -b 262144 "TCP-LISTEN:$MMC_DONOR_PORT,reuseaddr,fork,max-children=4$bind" "EXEC:bash $MMC_DIR/donor.sh handle"
}

handle() {
    local peer="${SOCAT_PEERADDR:-?}" ns status cmd nc mac
    ns=$(mmc_nonce)
    status=$(bash "$MMC_DIR/probe.sh" donor-status 2>/dev/null) || status="notready unknown"
    printf 'MMC-DONOR 1 %s %s\n' "$ns" "$status"
    if ! read -r -t 10 cmd nc mac; then mmc_log "client $peer sent nothing"; return 0; fi
    case "$cmd" in status | seed | seed-waiting | mac:*) ;; *) printf 'ERR protocol\n'; mmc_log "bad request from $peer"; return 0 ;; esac
    if ! [[ "$nc" =~ ^[0-9a-f]{32}$ ]] || [ "$mac" != "$(mmc_client_proof "$ns" "$nc" "$cmd")" ]; then
        printf 'ERR auth\n'
        mmc_log "rejected $cmd from $peer: authentication failed"
        return 0
    fi
    if [ "$cmd" = seed ] && [ "${status%% *}" != ready ]; then
        printf 'ERR notready\n'
        mmc_log "refused seed to $peer: this member is not ready ($status)"
        return 0
    fi
    # seed-waiting: a primary read-only without a channel, waiting for its quorum; the recipient decided
    # that it may seed from it (init.sh checks the conditions); a replica never serves it
    if [ "$cmd" = seed-waiting ] && [ "${status#* }" != primary ]; then
        printf 'ERR notprimary\n'
        mmc_log "refused seed-waiting to $peer: this member is not a primary ($status)"
        return 0
    fi
    printf 'OK %s\n' "$(mmc_donor_proof "$ns" "$nc" "$cmd")"
    local macdir="${TMPDIR:-/tmp}"
    case "$cmd" in
        status) return 0 ;;
        mac:*)
            # the integrity tag of an earlier seed session (by its donor nonce)
            local sid=${cmd#mac:} i
            [[ "$sid" =~ ^[0-9a-f]{32}$ ]] || return 0
            for ((i = 0; i < 300; i++)); do [ -s "$macdir/mmc-seed-mac.$sid" ] && break; sleep 0.1; done
            printf 'MAC %s\n' "$(cat "$macdir/mmc-seed-mac.$sid" 2>/dev/null || echo none)"
            rm -f "$macdir/mmc-seed-mac.$sid"
            return 0 ;;
    esac

    mmc_log "streaming a backup to $peer ($status)"
    local dir mackey cred rc=0 t0 tag
    dir=$(mktemp -d "$MMC_TMP/donor.XXXXXX") || return 1
    mackey=$(mmc_stream_mackey "$ns" "$nc")
    cred=$(mmc_seed_cred) || return 1
    # mariadb-backup takes one defaults file: the server config plus the seed credentials
    printf '!include %s\n' "$MMC_CNF" >>"$cred"
    mmc_hmac_open "$mackey" "$dir" || return 1
    t0=$SECONDS
    mariadb-backup --defaults-file="$cred" --backup --stream=mbstream \
        --target-dir="$dir" --socket="$MMC_SOCKET" --parallel="${MMC_DONOR_PARALLEL:-2}" \
        --log-copy-interval="${MMC_DONOR_LOG_COPY_INTERVAL_MS:-20}" 2>"$dir/backup.log" \
        | mmc_stream_cipher "$ns" "$(mmc_stream_encpass "$ns" "$nc")" \
        | tee /dev/fd/7 || rc=$?
    mmc_hmac_close
    tag=$(mmc_hmac_tag "$mackey" "$dir") || rc=1
    if [ "$rc" = 0 ] && grep -q 'completed OK' "$dir/backup.log"; then
        printf '%s\n' "$tag" >"$macdir/mmc-seed-mac.$ns.tmp" && mv -f "$macdir/mmc-seed-mac.$ns.tmp" "$macdir/mmc-seed-mac.$ns"
        mmc_log "backup streamed to $peer in $((SECONDS - t0)) s"
    else
        tail -n 15 "$dir/backup.log" >&2
        printf 'failed\n' >"$macdir/mmc-seed-mac.$ns"
        mmc_log "backup to $peer FAILED (rc=$rc); its integrity tag is withheld, the client discards the copy"
    fi
}

# One session over verified TLS (lib-stream.sh): socat starts this only after the client's certificate
# was verified against the set CA, so nothing here (not even the status SQL) runs for a stranger.
handle_tls() {
    local peer="${SOCAT_PEERADDR:-?}" cmd status tp
    if ! read -r -t 10 cmd; then mmc_log "client $peer sent nothing"; return 0; fi
    case "$cmd" in status | seed | seed-waiting) ;; *) printf 'ERR protocol\n'; mmc_log "bad request from $peer"; return 0 ;; esac
    tp=$(mmc_now_ms)
    status=$(bash "$MMC_DIR/probe.sh" donor-status 2>/dev/null) || status="notready unknown"
    tp=$(($(mmc_now_ms) - tp))
    case "$cmd" in
        status) printf 'STATUS %s\n' "$status"; return 0 ;;
        seed) if [ "${status%% *}" != ready ]; then printf 'ERR notready\n'; mmc_log "refused seed to $peer: this member is not ready ($status)"; return 0; fi ;;
        seed-waiting) if [ "${status#* }" != primary ]; then printf 'ERR notprimary\n'; mmc_log "refused seed-waiting to $peer: this member is not a primary ($status)"; return 0; fi ;;
    esac
    printf 'OK %s\n' "$status"
    mmc_log "streaming a backup to $peer over TLS ($status, probed in $tp ms)"
    local dir cred rc=0 t0 t1
    dir=$(mktemp -d "$MMC_TMP/donor.XXXXXX") || return 1
    cred=$(mmc_seed_cred) || return 1
    printf '!include %s\n' "$MMC_CNF" >>"$cred"
    mkdir -p "$dir/lsn" "$dir/eos"
    mmc_pipe_grow out || mmc_log "streaming to $peer through a pipe of the default size (could not grow it)"
    t0=$(mmc_now_ms)
    # straight into the TLS session: no copy besides socat's
    mariadb-backup --defaults-file="$cred" --backup --stream=mbstream \
        --target-dir="$dir" --extra-lsndir="$dir/lsn" --socket="$MMC_SOCKET" --parallel="${MMC_DONOR_PARALLEL:-2}" \
        --log-copy-interval="${MMC_DONOR_LOG_COPY_INTERVAL_MS:-20}" 2>"$dir/backup.log" || rc=$?
    t1=$(mmc_now_ms)
    if [ "$rc" = 0 ] && grep -q 'completed OK' "$dir/backup.log" && mmc_eos_record "$dir/lsn/xtrabackup_checkpoints" >"$dir/eos/mmc-end-of-stream" \
        && (cd "$dir/eos" && mbstream -c mmc-end-of-stream); then
        mmc_log "backup streamed to $peer in $((t1 - t0)) ms, end-of-stream record sent in $(($(mmc_now_ms) - t1)) ms"
    else
        tail -n 15 "$dir/backup.log" >&2
        mmc_log "backup to $peer FAILED (rc=$rc); no end-of-stream record: the client discards the copy"
    fi
}

main() {
    set -uo pipefail
    mmc_env_load donor || exit 2
    case "${1:-serve}" in
        serve) serve ;;
        handle) mmc_tmp_init || exit 1; handle ;;
        handle-tls) mmc_tmp_init || exit 1; handle_tls ;;
        *) mmc_die "usage: donor.sh [serve|handle|handle-tls]" ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
