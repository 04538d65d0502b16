#!/usr/bin/env bash
# One "pod" of the test machine: init container, then the containers (server, replicate, donor), each
# restarted when it exits (restartPolicy Always) until the harness marks the pod as stopping.
# usage: pod.sh POD_DIR [ROOT]  (POD_DIR/env holds the rendered environment, secrets substituted;
#        ROOT: the image's root filesystem the scripts run in, chrooted, as in the container)
# H_PIDNS=1 in the env: each container runs as PID 1 of its own PID namespace, as in Kubernetes (a
# signal from outside reaches it only if it handles that signal); POD_DIR/pid1/NAME holds the
# unshare process whose child is that PID 1. The server's pid file then holds a namespace pid.
dir=$1
X=()
[ -n "${2:-}" ] && X=(chroot "$2")
# shellcheck disable=SC1091
. "$dir/env"
S=$MMC_SCRIPTS
rm -rf "$dir/pid1"
[ -n "${H_PIDNS:-}" ] && mkdir -p "$dir/pid1"
container() { # NAME SCRIPT
    local name=$1 script=$2 n
    for ((n = 0; n < 200; n++)); do
        [ -e "$dir/stopping" ] && return 0
        echo "=== start $name #$n $(date -u +%T.%3N)" >>"$dir/logs/$name.log"
        if [ -n "${H_PIDNS:-}" ]; then
            unshare --pid --fork "${X[@]}" bash "$S/$script" >>"$dir/logs/$name.log" 2>&1 &
            echo "$!" >"$dir/pid1/$name"
            wait "$!"
        else
            "${X[@]}" bash "$S/$script" >>"$dir/logs/$name.log" 2>&1
        fi
        echo "=== $name exited rc=$? $(date -u +%T.%3N)" >>"$dir/logs/$name.log"
        [ -e "$dir/stopping" ] && return 0
        sleep 1
    done
}
for ((n = 0; n < 100; n++)); do
    [ -e "$dir/stopping" ] && exit 0
    if "${X[@]}" bash "$S/init.sh" >>"$dir/logs/init.log" 2>&1; then break; fi
    echo "=== init failed, retrying $(date -u +%T.%3N)" >>"$dir/logs/init.log"
    sleep 2
done
container server run.sh &
container replicate replicate.sh &
container donor donor.sh &
wait
