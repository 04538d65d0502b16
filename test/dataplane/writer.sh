#!/usr/bin/env bash
# Continuous writer: one client per write to the write name; logs "<id> <ack time ms>" for each
# acknowledged write. usage: writer.sh DIR CREDFILE WRITE_HOST MAX_SECONDS ID_BASE
# H_WRITER_CLIENT: the client command (default mariadb; "chroot ROOT mysql" for the MySQL image)
dir=$1 cred=$2 host=$3 maxs=$4 base=$5
# H_WRITER_OPTS: client options after the option file (TLS: --ssl-ca ... --ssl-verify-server-cert)
read -r -a client <<<"${H_WRITER_CLIENT:-mariadb}"
read -r -a opts <<<"${H_WRITER_OPTS:-}"
n=0
while [ ! -e "$dir/stop" ] && [ "$SECONDS" -lt "$maxs" ]; do
    if [ -e "$dir/pause" ]; then touch "$dir/paused"; sleep 0.02; continue; fi
    n=$((n + 1)); id=$((base + n))
    if timeout 15 "${client[@]}" --defaults-extra-file="$cred" "${opts[@]}" -h "$host" -P 3306 --connect-timeout=2 -N -B \
        -e "INSERT INTO mmc_test.acks (id, payload) VALUES ($id, SHA2('$id', 256))" 2>>"$dir/errors"; then
        t=$EPOCHREALTIME; t=${t/./}
        echo "$id ${t:0:13}" >>"$dir/acked"
    else
        t=$EPOCHREALTIME; t=${t/./}
        echo "$id ${t:0:13}" >>"$dir/failed"
    fi
    sleep 0.005
done
