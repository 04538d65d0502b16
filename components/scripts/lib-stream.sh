#!/usr/bin/env bash
# shellcheck shell=bash
# The seed stream (MariaDB): the donor protocol of donor.sh, client side, and what both sides share:
# HMAC-SHA256 built from `openssl dgst` with keys never on a command line, nonces, session keys,
# AES-256-CTR encryption (encrypt-then-MAC). Sourcing defines functions only.

mmc_hex() { od -An -v -tx1 | tr -d ' \n'; }
mmc_hex_to_esc() { local h=$1 i out=""; for ((i = 0; i < ${#h}; i += 2)); do out+="\\x${h:i:2}"; done; printf '%s' "$out"; }
# mmc_pad_esc KEY PADBYTE -> printf escape string of (key padded to 64 bytes) XOR pad
mmc_pad_esc() {
    local key=$1 pad=$2 khex i b out=""
    if [ "${#key}" -gt 64 ]; then
        khex=$(printf '%s' "$key" | openssl dgst -sha256 -binary | mmc_hex)
    else
        khex=$(printf '%s' "$key" | mmc_hex)
    fi
    for ((i = 0; i < 128; i += 2)); do
        b=0
        if [ "$i" -lt "${#khex}" ]; then b=$((16#${khex:i:2})); fi
        out+=$(printf '\\x%02x' $((b ^ pad)))
    done
    printf '%s' "$out"
}
# mmc_hmac_outer KEY INNER_HEX -> hex of the outer hash
mmc_hmac_outer() {
    local opad
    opad=$(mmc_pad_esc "$1" $((0x5c)))
    # shellcheck disable=SC2059
    { printf "$opad"; printf "$(mmc_hex_to_esc "$2")"; } | openssl dgst -sha256 -binary | mmc_hex
}
# mmc_hmac KEY MESSAGE -> hex
mmc_hmac() {
    local ipad inner
    ipad=$(mmc_pad_esc "$1" $((0x36)))
    # shellcheck disable=SC2059
    inner=$( { printf "$ipad"; printf '%s' "$2"; } | openssl dgst -sha256 -binary | mmc_hex)
    mmc_hmac_outer "$1" "$inner"
}

# Streaming HMAC without an extra copy of the data: mmc_hmac_open KEY DIR opens descriptor 7 (in
# the caller's shell); whatever is written to it is MACed (`tee /dev/fd/7` in a pipeline).
# mmc_hmac_close closes it (caller's shell); mmc_hmac_tag KEY DIR then prints the tag.
mmc_hmac_open() {
    local key=$1 dir=$2
    rm -f "$dir/hmac.fifo" "$dir/hmac.inner" "$dir/hmac.failed"
    mkfifo "$dir/hmac.fifo" || return 1
    (openssl dgst -sha256 -binary <"$dir/hmac.fifo" >"$dir/hmac.inner.tmp" && mv -f "$dir/hmac.inner.tmp" "$dir/hmac.inner" \
        || : >"$dir/hmac.failed") &
    exec 7>"$dir/hmac.fifo"
    # shellcheck disable=SC2059
    printf "$(mmc_pad_esc "$key" $((0x36)))" >&7
}
mmc_hmac_close() { exec 7>&-; }
mmc_hmac_tag() { # KEY DIR -> hex tag of what went through descriptor 7; status 1 if it failed
    local key=$1 dir=$2 i inner
    for ((i = 0; i < 600; i++)); do
        [ -f "$dir/hmac.inner" ] || [ -f "$dir/hmac.failed" ] && break
        sleep 0.05
    done
    [ -f "$dir/hmac.inner" ] || return 1
    inner=$(mmc_hex <"$dir/hmac.inner")
    [ "${#inner}" = 64 ] || return 1
    mmc_hmac_outer "$key" "$inner"
}
mmc_nonce() { head -c 16 /dev/urandom | mmc_hex; }

# Session secrets of a stream (donor nonce NS, client nonce NC), derived from the seed secret.
mmc_stream_encpass() { mmc_hmac "$MMC_SEED_PASSWORD" "mmc-enc|$1|$2"; }
mmc_stream_mackey() { mmc_hmac "$MMC_SEED_PASSWORD" "mmc-mac|$1|$2"; }
mmc_client_proof() { mmc_hmac "$MMC_SEED_PASSWORD" "mmc-client|$1|$2|$3"; } # NS NC CMD
mmc_donor_proof() { mmc_hmac "$MMC_SEED_PASSWORD" "mmc-donor|$1|$2|$3"; }   # NS NC CMD
# mmc_stream_cipher [-d] NS ENCPASS : AES-256-CTR stdin -> stdout, the passphrase on a descriptor.
mmc_stream_cipher() {
    local dec=()
    if [ "$1" = -d ]; then dec=(-d); shift; fi
    openssl enc "${dec[@]}" -bufsize 1048576 -aes-256-ctr -pbkdf2 -iter 1 -md sha256 -S "${1:0:16}" -pass fd:3 3< <(printf '%s\n' "$2")
}

# mmc_donor_session HOST CMD [STAGING]: authenticated conversation with donor.sh (protocol there).
#   status   -> prints "<ready|notready> <primary|replica>"
#   mac:<ns> -> prints the tag the donor kept for seed session ns
#   seed     -> unpacks a verified stream into STAGING
# Status 1: unreachable or broken stream; 3: the donor answered but the handshake failed.
mmc_donor_session() {
    if mmc_tls_on; then mmc_donor_session_tls "$@"; return; fi
    local host=$1 cmd=$2 staging=${3:-} magic ver ns ready role ok dmac nc result
    local rfd wfd cpid
    coproc DONOR { exec socat -b 262144 -T 60 - "TCP:$host:$MMC_DONOR_PORT,connect-timeout=5" 2>/dev/null; }
    cpid=$DONOR_PID
    # private copies: coproc descriptors are not inherited by the pipeline below
    exec {rfd}<&"${DONOR[0]}" {wfd}>&"${DONOR[1]}"
    if ! read -r -t 10 -u "$rfd" magic ver ns ready role || [ "$magic" != MMC-DONOR ] || [ "$ver" != 1 ]; then
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; return 1
    fi
    nc=$(mmc_nonce)
    printf '%s %s %s\n' "$cmd" "$nc" "$(mmc_client_proof "$ns" "$nc" "$cmd")" >&"$wfd"
    if ! read -r -t 10 -u "$rfd" ok dmac || [ "$ok" != OK ]; then
        mmc_log "donor $host refused $cmd (${ok:-no answer} ${dmac:-})"
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; return 3
    fi
    if [ "$dmac" != "$(mmc_donor_proof "$ns" "$nc" "$cmd")" ]; then
        mmc_log "donor $host failed to prove it knows the seed secret"
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; return 3
    fi
    if [ "$cmd" = status ] || [ "${cmd#mac:}" != "$cmd" ]; then
        if [ "$cmd" = status ]; then result="$ready $role"
        else read -r -t 40 -u "$rfd" ok result || result=""; fi
        exec {wfd}>&- {rfd}<&-
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
        printf '%s\n' "$result"
        return 0
    fi
    # seed: AES-256-CTR ciphertext until EOF, MACed as it arrives; the donor's tag is fetched after
    local dir mackey rc=0 tag want
    dir=$(mktemp -d "$MMC_TMP/seed.XXXXXX") || return 1
    mackey=$(mmc_stream_mackey "$ns" "$nc")
    mmc_hmac_open "$mackey" "$dir" || return 1
    tee /dev/fd/7 <&"$rfd" \
        | mmc_stream_cipher -d "$ns" "$(mmc_stream_encpass "$ns" "$nc")" \
        | mbstream -p "${MMC_SEED_PARALLEL:-4}" -x -C "$staging" || rc=$?
    mmc_hmac_close
    tag=$(mmc_hmac_tag "$mackey" "$dir") || rc=1
    exec {wfd}>&- {rfd}<&-
    kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
    rm -rf "$dir"
    if [ "$rc" != 0 ]; then mmc_log "seed stream from $host broke (rc=$rc)"; return 1; fi
    want=$(mmc_donor_session "$host" "mac:$ns") || { mmc_log "could not fetch the integrity tag from $host"; return 1; }
    if [ "$tag" != "$want" ]; then
        mmc_log "seed stream from $host failed its integrity check (truncated or tampered)"
        return 1
    fi
    return 0
}

# ---------- the seed stream over verified TLS (MMC_TLS_DIR set) ----------
# Replaces the protocol above: socat's OpenSSL addresses, mutual TLS with the set CA only. The donor
# runs its handler (and its SQL) only after the recipient proved, in the handshake, that it holds a
# certificate of the set; the recipient talks only to a donor whose certificate names the host it dialled.
#   client -> "<status|seed|seed-waiting>"
#   donor  -> "STATUS <ready|notready> <primary|replica>" (status), "ERR <why>", or "OK <...>" then the
#             mbstream of mariadb-backup, then (only when the backup completed) one more mbstream file,
#             mmc-end-of-stream, the end-of-stream record (mmc_eos_record), inside the same session
#             (mbstream refuses names starting with a dot; no database directory has this name: '-' is encoded).
# TLS authenticates every byte and its order; mbstream checks each chunk (CRC32); the record, last,
# proves the stream was not cut short and names the backup's final checkpoints, which the recipient
# compares with the ones it received (mmc_eos_verify) before it trusts the staging directory.

# SO_RCVTIMEO (SOL_SOCKET 1, optname 20 on Linux) as socat's setsockopt value: struct timeval
# {seconds, microseconds}, two little-endian 64-bit words, in hex.
mmc_timeval_hex() { # SECONDS
    local s=$1 i out=""
    for ((i = 0; i < 8; i++)); do out+=$(printf '%02x' $(((s >> (8 * i)) & 255))); done
    printf 'x%s%s' "$out" 0000000000000000
}
mmc_tls_socat_opts() {
    printf 'cert=%s,key=%s,cafile=%s,verify=1,openssl-min-proto-version=TLS1.2' \
        "$MMC_TLS_DIR/tls.crt" "$MMC_TLS_DIR/tls.key" "$MMC_TLS_DIR/ca.crt"
}
# socat moves 1 MiB per read on both ends (-b 1048576: fewer loops per TLS record batch than 256 KiB).
# The donor's listener: at most 4 sessions at once; a client that does not finish its handshake within
# MMC_DONOR_HANDSHAKE_SECONDS (10) is dropped (the socket's receive timeout), so idle clients cannot
# hold the listener.
mmc_tls_listen_addr() { # PORT [BIND_ADDRESS]
    printf 'OPENSSL-LISTEN:%s,reuseaddr,fork,max-children=4,setsockopt=1:20:%s%s,%s' "$1" \
        "$(mmc_timeval_hex "${MMC_DONOR_HANDSHAKE_SECONDS:-10}")" "${2:+,bind=$2}" "$(mmc_tls_socat_opts)"
}
mmc_tls_connect_addr() { # HOST PORT : the donor's certificate must name HOST
    printf 'OPENSSL:%s:%s,connect-timeout=5,commonname=%s,%s' "$1" "$2" "$1" "$(mmc_tls_socat_opts)"
}

# The end-of-stream record of a backup whose final checkpoints file is CHECKPOINTS.
mmc_eos_record() { # CHECKPOINTS
    local h
    h=$(sha256sum <"$1" | cut -c1-64) || return 1
    [ "${#h}" = 64 ] || return 1
    printf 'mmc-end-of-stream 1 checkpoints-sha256=%s\n' "$h"
}
# mmc_eos_verify STAGING : status 0 when STAGING holds the end-of-stream record and the checkpoints it
# names; otherwise status 1 and why on stdout. The record is removed (it is no database file).
mmc_eos_verify() {
    local st=$1 rec want got
    [ -f "$st/mmc-end-of-stream" ] || { echo "no end-of-stream record (the stream was cut short)"; return 1; }
    rec=$(head -c 200 "$st/mmc-end-of-stream")
    rm -f "$st/mmc-end-of-stream"
    [[ "$rec" =~ ^mmc-end-of-stream\ 1\ checkpoints-sha256=([0-9a-f]{64})$ ]] || { echo "malformed end-of-stream record"; return 1; }
    want=${BASH_REMATCH[1]}
    [ -f "$st/xtrabackup_checkpoints" ] || { echo "no xtrabackup_checkpoints in the stream"; return 1; }
    got=$(sha256sum <"$st/xtrabackup_checkpoints" | cut -c1-64)
    [ "$got" = "$want" ] || { echo "xtrabackup_checkpoints differs from the end-of-stream record"; return 1; }
}

# mmc_pipe_grow in|out [BYTES] : grows the pipe on this process's stdin (in) or stdout (out) to BYTES
# (1 MiB, the kernel's default pipe-max-size, allowed without privilege). A 64 KiB pipe (the default) makes the
# two ends wake each other every few chunks: measured here, the TLS seed about 10 % slower through it
# (docs/proof.md, the data-plane benchmark). bash has no fcntl; perl-base (Essential
# in Debian and Ubuntu, so in every MariaDB image) has. F_SETPIPE_SZ is 1031 on Linux. Status 1 (the pipe
# as it was) when that fails: no perl, or no pipe there (a socket).
mmc_pipe_grow() {
    local fh=STDOUT
    [ "$1" = in ] && fh=STDIN
    command -v perl >/dev/null 2>&1 || return 1
    perl -e 'fcntl($ARGV[0] eq "STDIN" ? *STDIN : *STDOUT, 1031, $ARGV[1] + 0) or exit 1' "$fh" "${2:-1048576}" 2>/dev/null
}

# mmc_donor_session_tls HOST CMD [STAGING]: as mmc_donor_session, over verified TLS. Status 1: nobody
# answered (refused, timeout, broken stream); 3: a server answered but the handshake failed (a certificate
# not of the set, or not naming HOST) or it refused the request: a member exists there.
mmc_donor_session_tls() {
    local host=$1 cmd=$2 staging=${3:-} ok a b rfd wfd cpid errf rc=0 why t0 t1 t2
    errf="${MMC_TMP:?mmc_tmp_init was not called}/donor-tls.$BASHPID"
    t0=$(mmc_now_ms)
    # -t 0: socat ends as soon as the donor's side ends (everything it sent already written to the pipe),
    # not half a second later (its default linger), which mbstream's end of input would wait for; this
    # side never ends first (the descriptor below stays open until the stream was read)
    coproc DONOR { exec socat -b 1048576 -T 60 -t 0 - "$(mmc_tls_connect_addr "$host" "$MMC_DONOR_PORT")" 2>"$errf"; }
    cpid=$DONOR_PID
    exec {rfd}<&"${DONOR[0]}" {wfd}>&"${DONOR[1]}"
    # a subshell: a donor gone already (SIGPIPE) ends it, not this script
    (printf '%s\n' "$cmd" >&"$wfd") 2>/dev/null
    if ! read -r -t 20 -u "$rfd" ok a b; then
        exec {wfd}>&- {rfd}<&-
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
        why=$(grep -m1 -iE 'ssl|certificate|alert|commonname' "$errf" 2>/dev/null | sed 's/^.* E //')
        rm -f "$errf"
        if [ -n "$why" ]; then mmc_log "donor $host failed TLS verification: $why"; return 3; fi
        return 1
    fi
    case "$ok" in
        STATUS) rc=0; [ "$cmd" = status ] || rc=3 ;;
        OK) rc=0; [ "$cmd" != status ] || rc=3 ;;
        *) mmc_log "donor $host refused $cmd ($ok $a)"; rc=3 ;;
    esac
    if [ "$rc" != 0 ] || [ "$cmd" = status ]; then
        exec {wfd}>&- {rfd}<&-
        kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
        rm -f "$errf"
        [ "$rc" = 0 ] && printf '%s %s\n' "$a" "$b"
        return "$rc"
    fi
    t1=$(mmc_now_ms)
    mmc_pipe_grow in <&"$rfd" || mmc_log "seed stream from $host through a pipe of the default size (could not grow it)"
    mbstream -p "${MMC_SEED_PARALLEL:-4}" -x -C "$staging" <&"$rfd" || rc=$?
    exec {wfd}>&- {rfd}<&-
    wait "$cpid" 2>/dev/null || true
    rm -f "$errf"
    if [ "$rc" != 0 ]; then mmc_log "seed stream from $host broke (rc=$rc)"; return 1; fi
    t2=$(mmc_now_ms)
    if ! why=$(mmc_eos_verify "$staging"); then mmc_log "seed stream from $host failed its end-of-stream check: $why"; return 1; fi
    # the stages of the session (bench/dataplane.sh reads this line)
    mmc_log "seed session with $host: answer $((t1 - t0)) ms, stream $((t2 - t1)) ms, end-of-stream check $(($(mmc_now_ms) - t2)) ms"
    return 0
}
