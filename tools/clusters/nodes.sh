# shellcheck shell=bash
# Real kubelet nodes for tools/clusters/{up,down}.sh --nodes real (sourced after lib.sh).
# Test infrastructure, not part of the product. Layout (flat, routed):
#   host bridge mmcbr0 10.250.0.1/24 (the API servers listen there);
#   node k (1..6 in CLUSTER_NODES order): network namespace mmc-<node>, eth0 10.250.0.(10+k),
#   pods in 10.244.k.0/24 on a CNI bridge; every node and the host route every pod range,
#   so pod IPs reach each other across nodes and clusters (what the MCS data path needs).
# A node is containerd (Debian) + kubelet + kube-proxy (iptables) started with
# `nsenter --net` + `unshare --mount` (not `ip netns exec`, which remounts /sys and hides the
# cgroup tree); tools/clusters/node-run.sh runs inside and bind-mounts per-node copies over the
# host paths kubelets share and over the /proc/sys entries kubelet would change for the host.

BRIDGE=mmcbr0
BRIDGE_IP=10.250.0.1

# node_index <node>: 1-based position in CLUSTER_NODES (cluster order, then node order).
node_index() {
  local c n i=0
  for c in "${CLUSTERS[@]}"; do
    for n in ${CLUSTER_NODES[$c]}; do
      i=$((i + 1))
      [[ "$n" == "$1" ]] && { echo "$i"; return 0; }
    done
  done
  return 1
}
node_cluster() { local c; for c in "${CLUSTERS[@]}"; do [[ " ${CLUSTER_NODES[$c]} " == *" $1 "* ]] && echo "$c"; done; }
node_ip() { echo "10.250.0.$((10 + $(node_index "$1")))"; }
node_netns() { echo "mmc-$1"; }
node_dir() { echo "$MMC_CLUSTERS_DIR/$(node_cluster "$1")/nodes/$1"; }
# Short host-side path to the node's /run/containerd (a symlink; unix socket paths are limited).
node_sock_dir() { echo "/run/mmc-nodes/$1"; }
all_nodes() { local c; for c in "${CLUSTERS[@]}"; do echo "${CLUSTER_NODES[$c]}"; done | tr ' ' '\n'; }

# ------------------------------------------------------------------ network --
net_up() {
  local n k ns veth m
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    # Per-bridge netfilter off: the host's own sysctls stay as they are.
    ip link add "$BRIDGE" type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  for n in $(all_nodes); do
    k="$(node_index "$n")"; ns="$(node_netns "$n")"; veth="mmcv$k"
    [[ -e "/run/netns/$ns" ]] || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip link set "$veth" master "$BRIDGE" up
    fi
    ip -n "$ns" addr replace "$(node_ip "$n")/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$BRIDGE_IP"
    # Per-namespace settings (forwarding between pods; bridged pod traffic through kube-proxy's rules).
    nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
    ip route replace "10.244.$k.0/24" via "$(node_ip "$n")"
    for m in $(all_nodes); do
      [[ "$m" == "$n" ]] || ip -n "$ns" route replace "10.244.$(node_index "$m").0/24" via "$(node_ip "$m")"
    done
  done
}

net_down() {
  local n k
  for n in $(all_nodes); do
    k="$(node_index "$n")"
    ip route del "10.244.$k.0/24" 2>/dev/null || true
    ip link del "mmcv$k" 2>/dev/null || true
    ip netns del "$(node_netns "$n")" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

# ---------------------------------------------------------------- link cut --
# A cluster cut off from the others (tools/clusters/cut.sh): in each of its node namespaces, chain
# MMC-CUT (first in INPUT, FORWARD and OUTPUT) drops every packet from or to another cluster's node
# address or pod range, established connections included. Services need no rule of their own:
# kube-proxy translates a ClusterIP to its endpoint's pod address (PREROUTING/OUTPUT) before these
# chains see the packet, so a Service whose endpoints are in another cluster (Kosmos's remote
# endpoints, the arbiter's cross-cluster names) is cut with the pod ranges. Untouched: traffic inside
# the cluster, and between its nodes and the host bridge (its API server, kubectl exec and logs).
CUT_CHAIN=MMC-CUT

# cluster_cut_ranges <cluster>: the other clusters' node addresses and pod ranges, one a line.
cluster_cut_ranges() {
  local m
  for m in $(all_nodes); do
    [[ "$(node_cluster "$m")" == "$1" ]] && continue
    echo "$(node_ip "$m")/32"
    echo "10.244.$(node_index "$m").0/24"
  done
}

# cluster_cut <cluster>: one iptables-restore transaction per node (the chain's rules and its jumps
# together), so a node is either cut or not; the cluster's nodes follow one another within milliseconds.
cluster_cut() {
  local c="$1" n ns r ch rules=""
  while read -r r; do rules+="-A $CUT_CHAIN -s $r -j DROP"$'\n'"-A $CUT_CHAIN -d $r -j DROP"$'\n'; done < <(cluster_cut_ranges "$c")
  [[ -n "$rules" ]] || return 1
  for n in ${CLUSTER_NODES[$c]}; do
    ns="/run/netns/$(node_netns "$n")"
    [[ -e "$ns" ]] || { log "$n: no network namespace $ns"; return 1; }
    {
      echo "*filter"
      echo ":$CUT_CHAIN - [0:0]"
      printf '%s' "$rules"
      for ch in INPUT FORWARD OUTPUT; do
        nsenter --net="$ns" iptables -w 5 -C "$ch" -j "$CUT_CHAIN" 2>/dev/null || echo "-I $ch 1 -j $CUT_CHAIN"
      done
      echo "COMMIT"
    } | nsenter --net="$ns" iptables-restore --noflush -w 5 || return 1
  done
}

# cluster_heal <cluster>: the chain emptied at once on every node (one transaction each), then its
# jumps and the chain removed. Healing a cluster that is not cut does nothing.
cluster_heal() {
  local c="$1" n ns ch ok=0
  for n in ${CLUSTER_NODES[$c]}; do
    ns="/run/netns/$(node_netns "$n")"
    [[ -e "$ns" ]] || continue
    nsenter --net="$ns" iptables -w 5 -n -L "$CUT_CHAIN" >/dev/null 2>&1 || continue
    printf '*filter\n:%s - [0:0]\nCOMMIT\n' "$CUT_CHAIN" | nsenter --net="$ns" iptables-restore --noflush -w 5 || ok=1
  done
  for n in ${CLUSTER_NODES[$c]}; do
    ns="/run/netns/$(node_netns "$n")"
    [[ -e "$ns" ]] || continue
    for ch in INPUT FORWARD OUTPUT; do
      while nsenter --net="$ns" iptables -w 5 -C "$ch" -j "$CUT_CHAIN" 2>/dev/null; do nsenter --net="$ns" iptables -w 5 -D "$ch" -j "$CUT_CHAIN" || { ok=1; break; }; done
    done
    if nsenter --net="$ns" iptables -w 5 -n -L "$CUT_CHAIN" >/dev/null 2>&1; then nsenter --net="$ns" iptables -w 5 -X "$CUT_CHAIN" || ok=1; fi
  done
  return $ok
}

# cluster_cut_state <cluster>: "cut" when a node of it drops traffic to the other clusters, else "healed".
cluster_cut_state() {
  local n ns
  for n in ${CLUSTER_NODES[$1]}; do
    ns="/run/netns/$(node_netns "$n")"
    [[ -e "$ns" ]] || continue
    if nsenter --net="$ns" iptables -w 5 -S "$CUT_CHAIN" 2>/dev/null | grep -q -- '-j DROP'; then echo cut; return 0; fi
  done
  echo healed
}

# --------------------------------------------------------------------- PKI --
node_pki() { # node_pki <cluster>: kubelet client certs per node, kube-proxy's, signed by the cluster CA
  local c="$1" d="$MMC_CLUSTERS_DIR/$1/pki" n
  local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign() {
    [[ -f "$d/$1.crt" ]] && return 0
    openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$1.key" -out "$d/$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$ext" > "$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -out "$d/$1.crt" -days 3650 -extfile "$d/$1.ext" 2>/dev/null
    rm -f "$d/$1.csr" "$d/$1.ext"; chmod 600 "$d/$1.key"
  }
  for n in ${CLUSTER_NODES[$c]}; do sign "node-$n" "/O=system:nodes/CN=system:node:$n"; done
  sign kube-proxy "/CN=system:kube-proxy"
}

# ------------------------------------------------------------------- config --
node_config() { # node_config <node> <cluster>
  local n="$1" c="$2" d k ip pki="$MMC_CLUSTERS_DIR/$2/pki"
  d="$(node_dir "$n")"; k="$(node_index "$n")"; ip="$(node_ip "$n")"
  mkdir -p "$d"/{containerd,cni/net.d,cni/ipam,kubelet,podlogs,sysctl,logs,run,hostpaths/run/containerd} /run/mmc-nodes
  ln -sfn "$d/hostpaths/run/containerd" "$(node_sock_dir "$n")"
  write_kubeconfig "$c" "node-$n" "$d/kubelet.kubeconfig"
  write_kubeconfig "$c" kube-proxy "$d/kube-proxy.kubeconfig"
  cat > "$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
# Sockets in the node's private /run/containerd (node-run.sh): a path under the state directory would
# pass the 104-byte limit of a unix socket path. The host reaches them through $(node_sock_dir "$n").
[grpc]
  address = "/run/containerd/containerd.sock"
[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.1"
  enable_selinux = false
  # The machine lacks CAP_SYS_RESOURCE: without this every sandbox fails.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
EOF
  cat > "$d/cni/net.d/10-mmc.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "mmc",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$d/cni/ipam",
              "ranges": [[{"subnet": "10.244.$k.0/24", "gateway": "10.244.$k.1"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # No upstream resolver: only CoreDNS (dnsPolicy Default) reads it, and it forwards nothing.
  echo "nameserver $BRIDGE_IP" > "$d/resolv.conf"
  cat > "$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /mmc-$n
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
imageServiceEndpoint: unix:///run/containerd/containerd.sock
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
resolvConf: $d/resolv.conf
podLogsDir: $d/podlogs
protectKernelDefaults: false
serializeImagePulls: false
failSwapOn: false
maxPods: 30
# ConfigMap volumes (the topology) refresh within ~10 s instead of ~1 min.
syncFrequency: 10s
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
  cat > "$d/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $d/kube-proxy.kubeconfig}
hostnameOverride: $n
bindAddress: $ip
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  # The values kubelet wants for these kernel tunables, bind-mounted over /proc/sys inside the node only.
  local f
  for f in vm.overcommit_memory:1 vm.panic_on_oom:0 kernel.panic:10 kernel.panic_on_oops:1 \
           kernel.keys.root_maxkeys:1000000 kernel.keys.root_maxbytes:25000000; do
    echo "${f#*:}" > "$d/sysctl/${f%%:*}"
  done
}

# ---------------------------------------------------------------- processes --
node_launcher_pid() { # pid of the node's launcher, or nothing (guards against pid reuse)
  local pf pid; pf="$(node_dir "$1")/run/node.pid"
  [[ -f "$pf" ]] || return 0
  pid="$(cat "$pf")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "node-run.sh $1 "; then echo "$pid"; fi
}

node_start() { # node_start <node> <cluster> <node bin dir>
  local n="$1" c="$2" bin="$3" d
  d="$(node_dir "$n")"
  [[ -n "$(node_launcher_pid "$n")" ]] && return 0
  log "$c: starting real node $n ($(node_ip "$n"))"
  setsid nsenter --net="/run/netns/$(node_netns "$n")" -- unshare --mount --propagation private -- \
    bash "$HERE/node-run.sh" "$n" "$d" "$bin" "$(node_ip "$n")" </dev/null >>"$d/logs/node.log" 2>&1 &
}

# node_cgroup_pids <node>: every process in the node's cgroup tree (containers, shims, daemons).
node_cgroup_pids() {
  local root="/sys/fs/cgroup/pids/mmc-$1"
  [[ -d "$root" ]] || return 0
  find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u
}

node_stop() { # node_stop <node>: kubelet first (no restarts), then everything in the node's cgroups
  local n="$1" d r p i
  d="$(node_dir "$n")"; r="$d/run"
  for p in kubelet kube-proxy; do [[ -f "$r/$p.pid" ]] && kill "$(cat "$r/$p.pid")" 2>/dev/null; done
  for i in $(seq 1 30); do
    { [[ -f "$r/kubelet.pid" ]] && kill -0 "$(cat "$r/kubelet.pid")" 2>/dev/null; } || break; sleep 0.1
  done
  [[ -f "$r/containerd.pid" ]] && kill "$(cat "$r/containerd.pid")" 2>/dev/null
  for i in $(seq 1 20); do
    p="$(node_cgroup_pids "$n")"
    [[ -z "$p" ]] && break
    # shellcheck disable=SC2086
    kill -9 $p 2>/dev/null || true
    sleep 0.25
  done
  p="$(node_launcher_pid "$n")"; [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null
  rm -f "$r"/*.pid
  local ctl
  for ctl in cpu cpuacct cpuset memory pids systemd devices freezer blkio; do
    [[ -d "/sys/fs/cgroup/$ctl/mmc-$n" ]] && find "/sys/fs/cgroup/$ctl/mmc-$n" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  [[ -z "$(node_cgroup_pids "$n")" ]]
}

# -------------------------------------------------------------------- images --
node_import_images() { # node_import_images <node> <image tar>...: into the node's containerd (k8s.io namespace)
  local n="$1" d sock t i; shift
  d="$(node_dir "$n")"; sock="$(node_sock_dir "$n")/containerd.sock"
  for i in $(seq 1 100); do [[ -S "$sock" ]] && ctr -a "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  for t in "$@"; do
    # Imported once per content: the stamp names the tar's size and mtime.
    local stamp; stamp="$d/run/imported-$(basename "$t")-$(stat -c %s-%Y "$t")"
    [[ -f "$stamp" ]] && continue
    ctr -a "$sock" -n k8s.io images import "$t" >>"$d/logs/import.log" 2>&1 || { log "$n: importing $t failed (see $d/logs/import.log)"; return 1; }
    touch "$stamp"
  done
}

# ------------------------------------------------------------- up / down ---
REAL_NODE_BIN="" REAL_IMAGES=()
real_nodes_prepare() { # real_nodes_prepare <control-plane bin dir>: builds, images, network
  local out
  out="$(bash "$HERE/../toolchain/nodes.sh")" || return 1
  REAL_NODE_BIN="$(sed -n 1p <<<"$out")"
  local images
  images="$(bash "$HERE/../nodes/images.sh" "$REAL_NODE_BIN" "$(sed -n 2p <<<"$out")" "$(sed -n 3p <<<"$out")" "$1/kubectl" "$1/etcd")" || return 1
  mapfile -t REAL_IMAGES <<<"$images"
  COREDNS_IMAGE="v$("$(sed -n 2p <<<"$out")/coredns" -version | sed -n 's/^CoreDNS-\([0-9.]*\).*/\1/p')"
  command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] && command -v iptables-restore >/dev/null \
    || { log "real nodes need Debian's containerd, runc, containernetworking-plugins, iptables (apt-get install containerd runc containernetworking-plugins iptables conntrack)"; return 1; }
  net_up
  # Mount point of each node's private /data/mysql (the stacks' local-volume path).
  mkdir -p /data/mysql
}

real_nodes_up() { # real_nodes_up <cluster>: nodes started, images imported, CoreDNS declared
  local c="$1" n kc="$MMC_CLUSTERS_DIR/$1/admin.kubeconfig"
  node_pki "$c"
  for n in ${CLUSTER_NODES[$c]}; do
    node_config "$n" "$c"
    node_start "$n" "$c" "$REAL_NODE_BIN"
  done
  for n in ${CLUSTER_NODES[$c]}; do node_import_images "$n" "${REAL_IMAGES[@]}" || return 1; done
  # The API server's kubelet client (kubectl logs/exec), and CoreDNS with its Service at 10.96.0.10.
  sed "s#@COREDNS_IMAGE@#registry.k8s.io/coredns/coredns:$COREDNS_IMAGE#" "$HERE/real-nodes.yaml" \
    | "$KUBECTL" --kubeconfig "$kc" apply --server-side --field-manager mysql-multicluster-clusters -f - >/dev/null
}

real_nodes_wait() {
  local c="$1" kc="$MMC_CLUSTERS_DIR/$1/admin.kubeconfig"
  wait_for "$c CoreDNS available" "$KUBECTL" --kubeconfig "$kc" -n kube-system rollout status deployment/coredns --timeout 5s
}

mcs_shim_pid() {
  local pf="$MMC_CLUSTERS_DIR/mcs-shim.pid" pid
  [[ -f "$pf" ]] || return 0
  pid="$(cat "$pf")"
  [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF "mcs-shim.ts" && echo "$pid"
  return 0
}

mcs_shim_start() { # mcs_shim_start [kosmos|mcs-api]: the MCS profile whose data path it plays
  local profile="${1:-kosmos}" pid
  pid="$(mcs_shim_pid)"
  if [[ -n "$pid" ]]; then
    [[ "$(cat "$MMC_CLUSTERS_DIR/mcs-profile" 2>/dev/null || echo kosmos)" == "$profile" ]] && return 0
    log "restarting the test MCS controller for profile $profile"; kill "$pid" 2>/dev/null; sleep 1
  fi
  local root; root="$(cd "$HERE/../.." && pwd)"
  case "$profile" in
    kosmos) log "starting the test MCS controller (kosmos data path: remote endpoints into imported Services)" ;;
    *) log "starting the test MCS controller ($profile data path: ServiceImports, EndpointSlices, clusterset.local records)" ;;
  esac
  echo "$profile" > "$MMC_CLUSTERS_DIR/mcs-profile"
  # exec: the recorded pid is the controller's own.
  (cd "$root" && exec setsid node --import tsx "$HERE/mcs-shim.ts" --profile "$profile" "$MMC_CLUSTERS_DIR" "${CLUSTERS[@]}") \
    </dev/null >>"$MMC_CLUSTERS_DIR/mcs-shim.log" 2>&1 &
  echo $! > "$MMC_CLUSTERS_DIR/mcs-shim.pid"
  sleep 1
  [[ -n "$(mcs_shim_pid)" ]] || { tail -n 20 "$MMC_CLUSTERS_DIR/mcs-shim.log" >&2; return 1; }
}

real_nodes_down() { # every node, the MCS controller, the network; true when nothing is left
  local pid n ok=0
  pid="$(mcs_shim_pid)"
  if [[ -n "$pid" ]]; then log "stopping the test MCS controller ($pid)"; kill "$pid" 2>/dev/null; fi
  rm -f "$MMC_CLUSTERS_DIR/mcs-shim.pid"
  for n in $(all_nodes); do
    [[ -d "$(node_dir "$n")" || -d "/sys/fs/cgroup/pids/mmc-$n" ]] || continue
    log "stopping real node $n"
    node_stop "$n" || { log "$n: processes left in its cgroups: $(node_cgroup_pids "$n" | paste -sd' ')"; ok=1; }
  done
  net_down
  rm -rf /run/mmc-nodes
  return $ok
}
