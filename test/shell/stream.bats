#!/usr/bin/env bats
# shellcheck disable=SC2034  # tests set the inputs the sourced functions read
# lib-stream.sh: HMAC-SHA256 (keys never on a command line) against openssl's own HMAC.
load common

setup() { valid_env; load_libs; }

openssl_hmac() { printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" -r | cut -c1-64; }

@test "mmc_hmac equals openssl's HMAC for short, quoted and long keys" {
    local k
    for k in secret "k\"ey'\\x" "$(printf 'x%.0s' {1..100})" ""; do
        [ "$(mmc_hmac "$k" "msg|1")" = "$(openssl_hmac "$k" "msg|1")" ] || { echo "key of ${#k} bytes"; false; }
    done
}

@test "the streaming HMAC (descriptor 7) equals the one-shot HMAC of the same bytes" {
    local dir="$BATS_TEST_TMPDIR" data tag
    data=$(head -c 200000 /dev/urandom | base64 -w0)
    mmc_hmac_open k3y "$dir"
    printf '%s' "$data" | tee /dev/fd/7 >/dev/null
    mmc_hmac_close
    tag=$(mmc_hmac_tag k3y "$dir")
    [ "$tag" = "$(openssl_hmac k3y "$data")" ]
}

@test "session keys differ per nonce pair and the proofs bind the command" {
    [ "$(mmc_stream_encpass a b)" != "$(mmc_stream_encpass a c)" ]
    [ "$(mmc_stream_mackey a b)" != "$(mmc_stream_encpass a b)" ]
    [ "$(mmc_client_proof n1 n2 seed)" != "$(mmc_client_proof n1 n2 status)" ]
    [ "$(mmc_client_proof n1 n2 seed)" != "$(mmc_donor_proof n1 n2 seed)" ]
    [[ "$(mmc_nonce)" =~ ^[0-9a-f]{32}$ ]]
}

@test "the stream cipher round-trips with the passphrase on a descriptor" {
    local ns=0123456789abcdef0123456789abcdef out
    out=$(printf 'hello stream' | mmc_stream_cipher "$ns" pass | mmc_stream_cipher -d "$ns" pass)
    [ "$out" = "hello stream" ]
    out=$(printf 'hello stream' | mmc_stream_cipher "$ns" pass | mmc_stream_cipher -d "$ns" other | od -c | head -1)
    [[ "$out" != *"h   e   l   l   o"* ]]
}

pipe_size() { perl -e 'print fcntl(STDIN, 1032, 0) + 0'; } # F_GETPIPE_SZ of the pipe on stdin

@test "mmc_pipe_grow grows the pipe on stdin or stdout (1 MiB unless told)" {
    [ "$(: | pipe_size)" = 65536 ] # the kernel's default, for contrast
    [ "$(: | { mmc_pipe_grow in && pipe_size; })" = 1048576 ]
    [ "$({ mmc_pipe_grow out && echo grown; } | { read -r _ && pipe_size; })" = 1048576 ]
    [ "$(: | { mmc_pipe_grow in 262144 && pipe_size; })" = 262144 ]
}

@test "mmc_pipe_grow fails, changing nothing, where there is no pipe or no perl" {
    run mmc_pipe_grow in </dev/null
    [ "$status" = 1 ]
    if mmc_pipe_grow out >"$BATS_TEST_TMPDIR/file"; then false; fi # (not `run`: it captures stdout in a pipe)
    PATH=/nonexistent run mmc_pipe_grow in < <(:)
    [ "$status" = 1 ]
}
