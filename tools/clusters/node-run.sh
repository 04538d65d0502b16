#!/usr/bin/env bash
# Runs INSIDE a real test node (started by tools/clusters/nodes.sh: nsenter --net + unshare --mount,
# so every mount below is private to the node): containerd, kubelet, kube-proxy.
#   node-run.sh <node> <node dir> <bin dir with kubelet, kube-proxy> <node ip>
set -uo pipefail
n="$1" d="$2" bin="$3" ip="$4"
r="$d/run"
mkdir -p "$r"
echo $$ > "$r/node.pid"
# Per-node copies of the paths kubelet (its root dir: the default, short enough for its sockets),
# containerd and CNI hard-code, and of the local-volume
# root the stacks use (/data/mysql): without them the nodes would share (and clean up) each other's.
for p in /var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/netns /data/mysql; do
  mkdir -p "$d/hostpaths$p" "$p"
  mount --bind "$d/hostpaths$p" "$p"
done
# The values kubelet wants for these tunables, shown to the node only (the host's stay unchanged).
for f in "$d"/sysctl/*; do
  k="$(basename "$f")"
  mount --bind "$f" "/proc/sys/${k//./\/}"
done
# cgroup v1 root of the node (kubelet's cgroupRoot); the node's daemons in <root>/system.
for c in cpu cpuacct cpuset memory pids systemd devices freezer blkio; do
  mkdir -p "/sys/fs/cgroup/$c/mmc-$n/system"
  if [[ "$c" == cpuset ]]; then
    for s in "mmc-$n" "mmc-$n/system"; do
      cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$s/cpuset.cpus"
      cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$s/cpuset.mems"
    done
  fi
  echo $$ > "/sys/fs/cgroup/$c/mmc-$n/system/cgroup.procs"
done

containerd --config "$d/containerd.toml" >>"$d/logs/containerd.log" 2>&1 &
echo $! > "$r/containerd.pid"
for _ in $(seq 1 100); do [[ -S /run/containerd/containerd.sock ]] && break; sleep 0.1; done

"$bin/kubelet" --config "$d/kubelet.yaml" --kubeconfig "$d/kubelet.kubeconfig" \
  --hostname-override "$n" --node-ip "$ip" >>"$d/logs/kubelet.log" 2>&1 &
echo $! > "$r/kubelet.pid"
"$bin/kube-proxy" --config "$d/kube-proxy.yaml" >>"$d/logs/kube-proxy.log" 2>&1 &
echo $! > "$r/kube-proxy.pid"
wait
