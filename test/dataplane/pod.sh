#!/usr/bin/env bash
# One "pod" of the test machine: init container, then the containers (server, replicate, donor, and
# failover-agent when the env has MMC_ARBITER_ENDPOINTS), each
# restarted when it exits (restartPolicy Always) until the harness marks the pod as stopping. Every
# script runs as the pod's containers do: as the image's mysql uid (never root) and with only the
# passwords its container gets in the rendered StatefulSet (POD_DIR/secrets.<container>, extract.mjs).
# usage: pod.sh POD_DIR [ROOT]  (POD_DIR/env holds the rendered environment, secrets substituted;
#        ROOT: the image's root filesystem the scripts run in, chrooted, as in the container)
#        pod.sh POD_DIR ROOT exec CONTAINER SCRIPT [ARGS...]  (one script as CONTAINER, e.g. a probe)
# H_PIDNS=1 in the env: each container runs as PID 1 of its own PID namespace, as in Kubernetes (a
# signal from outside reaches it only if it handles that signal); POD_DIR/pid1/LOG holds the
# unshare process whose child is that PID 1. The server's pid file then holds a namespace pid.
dir=$1
if [ -n "${2:-}" ]; then AS=(chroot --userspec=999:999 "$2"); else AS=(setpriv --reuid=mysql --regid=mysql --init-groups); fi
# shellcheck disable=SC1091
. "$dir/env"
S=$MMC_SCRIPTS
ROOTFS=${2:-}
# as_container CONTAINER SCRIPT [ARGS...] : the script with the passwords CONTAINER does not get removed
as_container() {
    local name=$1 keep v drop=(); shift
    keep=$(cat "$dir/secrets.$name") || { echo "pod.sh: no secrets list for container $name" >&2; return 2; }
    for v in MMC_ROOT_PASSWORD MMC_REPL_PASSWORD MMC_SEED_PASSWORD MMC_ADMIN_PASSWORD MMC_APP_PASSWORD; do
        case " $keep " in *" $v "*) ;; *) drop+=(-u "$v") ;; esac
    done
    local script=$1; shift
    if [ -n "${AS_EXEC:-}" ]; then exec env "${drop[@]}" "${AS[@]}" bash "$S/$script" "$@"; fi
    env "${drop[@]}" "${AS[@]}" bash "$S/$script" "$@"
}
# exec mode replaces this process with the script (as PID 1 of a namespace it must be the script itself)
if [ "${3:-}" = exec ]; then shift 3; AS_EXEC=1 as_container "$@"; exit; fi
rm -rf "$dir/pid1"
[ -n "${H_PIDNS:-}" ] && mkdir -p "$dir/pid1"
container() { # LOG CONTAINER SCRIPT
    local log=$1 name=$2 script=$3 n
    for ((n = 0; n < 200; n++)); do
        [ -e "$dir/stopping" ] && return 0
        echo "=== start $log #$n $(date -u +%T.%3N)" >>"$dir/logs/$log.log"
        if [ -n "${H_PIDNS:-}" ]; then
            unshare --pid --fork bash "$0" "$dir" "${ROOTFS:-}" exec "$name" "$script" >>"$dir/logs/$log.log" 2>&1 &
            echo "$!" >"$dir/pid1/$log"
            wait "$!"
        else
            as_container "$name" "$script" >>"$dir/logs/$log.log" 2>&1
        fi
        echo "=== $log exited rc=$? $(date -u +%T.%3N)" >>"$dir/logs/$log.log"
        [ -e "$dir/stopping" ] && return 0
        sleep 1
    done
}
for ((n = 0; n < 100; n++)); do
    [ -e "$dir/stopping" ] && exit 0
    if as_container init init.sh >>"$dir/logs/init.log" 2>&1; then break; fi
    echo "=== init failed, retrying $(date -u +%T.%3N)" >>"$dir/logs/init.log"
    sleep 2
done
container server mysql run.sh &
container replicate replicate replicate.sh &
# MySQL pods have no donor container (CLONE is served by the server itself)
if [ -f "$dir/secrets.donor" ]; then container donor donor donor.sh & fi
# automatic failover: the failover-agent container, when the rendered env names the arbiter
if [ -n "${MMC_ARBITER_ENDPOINTS:-}" ]; then container failover-agent failover-agent autofailover.sh & fi
wait
