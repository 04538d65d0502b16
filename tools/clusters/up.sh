#!/usr/bin/env bash
# npm run clusters:up — start (or keep) three local Kubernetes control planes
# with KWOK fake nodes and write ${MMC_CLUSTERS_DIR}/kubeconfig with the
# contexts kosmos-cluster1..3. Idempotent: running components are kept,
# missing ones are (re)started. Blocks until every API server is ready, every
# node is Ready and the MCS CRDs are Established, or fails after a timeout.
#   MMC_CLUSTERS_DIR   state directory (default ~/.cache/mysql-multicluster/clusters)
#   MMC_UP_TIMEOUT     seconds to wait for everything (default 300)
#   --nodes kwok|real  KWOK fake nodes (default), or real kubelet nodes that run the pods
#                      (containerd, kube-proxy, CoreDNS, the test MCS data path: tools/clusters/nodes.sh)
#   --mcs kosmos|mcs-api with real nodes: which MCS profile's data path the test MCS controller plays
#                      (tools/clusters/mcs-shim.ts; default kosmos; MMC_MCS_PROFILE)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
NODES_MODE="${MMC_NODES:-kwok}"
MCS_PROFILE="${MMC_MCS_PROFILE:-kosmos}"
while (( $# )); do
  case "$1" in
    --nodes) NODES_MODE="${2:-}"; shift 2 || shift ;;
    --nodes=*) NODES_MODE="${1#--nodes=}"; shift ;;
    --mcs) MCS_PROFILE="${2:-}"; shift 2 || shift ;;
    --mcs=*) MCS_PROFILE="${1#--mcs=}"; shift ;;
    *) die "unknown argument $1 (usage: up.sh [--nodes kwok|real] [--mcs kosmos|mcs-api])" ;;
  esac
done
case "$MCS_PROFILE" in
  kosmos|mcs-api) ;;
  *) die "--mcs: \"$MCS_PROFILE\" is not kosmos or mcs-api (the MCS data path real nodes get)" ;;
esac
case "$NODES_MODE" in
  kwok) API_HOST=127.0.0.1 ;;
  # Real nodes live in their own network namespaces: the API servers listen on the host bridge.
  real) API_HOST=10.250.0.1
        (( EUID == 0 )) || die "--nodes real: needs root (network namespaces, mounts, cgroups)"
        # shellcheck source=nodes.sh
        source "$HERE/nodes.sh" ;;
  *) die "--nodes: \"$NODES_MODE\" is not kwok or real" ;;
esac
if [[ -f "$MMC_CLUSTERS_DIR/nodes-mode" && "$(cat "$MMC_CLUSTERS_DIR/nodes-mode")" != "$NODES_MODE" ]]; then
  die "--nodes $NODES_MODE: the clusters in $MMC_CLUSTERS_DIR run $(cat "$MMC_CLUSTERS_DIR/nodes-mode") nodes; run 'npm run clusters:down -- --purge' first"
fi
UP_TIMEOUT="${MMC_UP_TIMEOUT:-300}"
DEADLINE=$(( $(date +%s) + UP_TIMEOUT ))

for tool in openssl curl; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install $tool)"
done

# Build or reuse the toolchain (prints the bin dir on its last line).
BIN="$(bash "$ROOT/tools/toolchain/k8s.sh" | tail -n1)"
[[ -x "$BIN/kube-apiserver" ]] || die "toolchain build did not produce $BIN/kube-apiserver"
STAGES="$(dirname "$BIN")/kwok-stages.yaml"
[[ -s "$STAGES" ]] || die "missing KWOK stages $STAGES"
KUBECTL="$BIN/kubectl"

remaining() { echo $(( DEADLINE - $(date +%s) )); }
# wait_for <description> <command...>: poll until the command succeeds.
wait_for() {
  local what="$1"; shift
  until "$@" >/dev/null 2>&1; do
    if (( $(remaining) <= 0 )); then
      log "timed out after ${UP_TIMEOUT}s waiting for: $what"
      return 1
    fi
    sleep 1
  done
}

# wait_component <cluster> <component> <description> <command...>: like
# wait_for, but fails at once (with the log tail) if the component exited,
# e.g. because its port is taken.
wait_component() {
  local c="$1" comp="$2" what="$3"; shift 3
  until "$@" >/dev/null 2>&1; do
    if [[ -z "$(component_pid "$c" "$comp")" ]]; then
      log "$c: $comp exited; last lines of $MMC_CLUSTERS_DIR/$c/logs/$comp.log:"
      tail -n 20 "$MMC_CLUSTERS_DIR/$c/logs/$comp.log" >&2 || true
      return 1
    fi
    if (( $(remaining) <= 0 )); then
      log "timed out after ${UP_TIMEOUT}s waiting for: $what"
      tail -n 20 "$MMC_CLUSTERS_DIR/$c/logs/$comp.log" >&2 || true
      return 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- PKI --------
# One CA per cluster; client-certificate authentication for every component.
gen_pki() {
  local c="$1" d="$MMC_CLUSTERS_DIR/$1/pki"
  mkdir -p "$d"
  if [[ -f "$d/.complete" ]]; then
    [[ -f "$d/front-proxy-ca.crt" ]] || die "$c: certificates from an older up.sh; run 'bash tools/clusters/down.sh --purge' first"
    return 0
  fi
  log "$c: generating certificates and service-account keys"
  (
    set -e
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=mysql-multicluster-$c-ca" 2>/dev/null
    # signed <name> <subject> <extensions>
    signed() {
      openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%s\n' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    signed apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.250.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    signed admin "/O=system:masters/CN=mysql-multicluster-admin" "$client"
    signed controller-manager "/CN=system:kube-controller-manager" "$client"
    signed scheduler "/CN=system:kube-scheduler" "$client"
    signed kwok "/O=system:masters/CN=kwok-controller" "$client"
    signed apiserver-kubelet-client "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" "$client"
    # Front-proxy (aggregation layer) CA: components check request-header
    # authentication against it, and complain when it is absent.
    openssl req -x509 -newkey rsa:2048 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 3650 \
      -subj "/CN=mysql-multicluster-$c-front-proxy-ca" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr \
      -subj "/CN=front-proxy-client" 2>/dev/null
    printf '%s\n' "$client" > front-proxy-client.ext
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
      -out front-proxy-client.crt -days 3650 -extfile front-proxy-client.ext 2>/dev/null
    rm -f front-proxy-client.csr front-proxy-client.ext
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
    touch .complete
  )
}

write_kubeconfig() { # write_kubeconfig <cluster> <user> <file>
  local c="$1" u="$2" f="$3" pki="$MMC_CLUSTERS_DIR/$1/pki"
  local server; server="https://$API_HOST:$(port "$c" 443)"
  rm -f "$f"
  "$KUBECTL" --kubeconfig "$f" config set-cluster "$c" --server "$server" \
    --certificate-authority "$pki/ca.crt" --embed-certs >/dev/null
  "$KUBECTL" --kubeconfig "$f" config set-credentials "$u-$c" \
    --client-certificate "$pki/$u.crt" --client-key "$pki/$u.key" --embed-certs >/dev/null
  "$KUBECTL" --kubeconfig "$f" config set-context "$(context_name "$c")" \
    --cluster "$c" --user "$u-$c" >/dev/null
  "$KUBECTL" --kubeconfig "$f" config use-context "$(context_name "$c")" >/dev/null
}

# ------------------------------------------------------------ processes ------
start_component() { # start_component <cluster> <component> <args...>
  local c="$1" comp="$2"; shift 2
  local run="$MMC_CLUSTERS_DIR/$c/run" pid
  mkdir -p "$run" "$MMC_CLUSTERS_DIR/$c/logs"
  pid="$(component_pid "$c" "$comp")"
  if [[ -n "$pid" ]]; then
    return 0
  fi
  log "$c: starting $comp"
  # setsid + redirections: fully detached from the caller (a test runner may
  # be reading our stdout), logs under <cluster>/logs.
  setsid "$BIN/$comp" "$@" </dev/null >>"$MMC_CLUSTERS_DIR/$c/logs/$comp.log" 2>&1 &
  echo $! > "$run/$comp.pid"
}

start_cluster() {
  local c="$1" d="$MMC_CLUSTERS_DIR/$1" i
  i="$(cluster_index "$c")"
  local pki="$d/pki"
  local etcd_client etcd_peer
  etcd_client="http://127.0.0.1:$(port "$c" 379)"
  etcd_peer="http://127.0.0.1:$(port "$c" 380)"
  local api_port; api_port="$(port "$c" 443)"

  gen_pki "$c"
  write_kubeconfig "$c" admin "$d/admin.kubeconfig"
  write_kubeconfig "$c" controller-manager "$d/controller-manager.kubeconfig"
  write_kubeconfig "$c" scheduler "$d/scheduler.kubeconfig"
  write_kubeconfig "$c" kwok "$d/kwok.kubeconfig"

  # etcd: throwaway test data, so fsync is skipped to spare the CI disk.
  start_component "$c" etcd \
    --name "$c" --data-dir "$d/etcd" \
    --listen-client-urls "$etcd_client" --advertise-client-urls "$etcd_client" \
    --listen-peer-urls "$etcd_peer" --initial-advertise-peer-urls "$etcd_peer" \
    --initial-cluster "$c=$etcd_peer" --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn
  wait_component "$c" etcd "$c etcd health" curl -fsS "$etcd_client/health" || return 1

  local -a api_extra=(--endpoint-reconciler-type none)
  # Real nodes: pods reach the API server through the kubernetes Service; kubectl logs/exec dial the node IP.
  [[ "$NODES_MODE" == real ]] && api_extra=(--kubelet-preferred-address-types "InternalIP,Hostname")
  start_component "$c" kube-apiserver \
    --etcd-servers "$etcd_client" \
    --bind-address "$API_HOST" --advertise-address "$API_HOST" --secure-port "$api_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --service-account-issuer "https://$API_HOST:$api_port" \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" \
    --proxy-client-key-file "$pki/front-proxy-client.key" \
    --authorization-mode Node,RBAC \
    --allow-privileged=true \
    "${api_extra[@]}" \
    --profiling=false
  wait_component "$c" kube-apiserver "$c kube-apiserver /readyz" \
    "$KUBECTL" --kubeconfig "$d/admin.kubeconfig" get --raw /readyz || return 1

  start_component "$c" kube-controller-manager \
    --kubeconfig "$d/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$d/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$d/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(port "$c" 257)" \
    --cluster-name "$c" --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --controllers '*' \
    --profiling=false

  start_component "$c" kube-scheduler \
    --kubeconfig "$d/scheduler.kubeconfig" \
    --authentication-kubeconfig "$d/scheduler.kubeconfig" \
    --authorization-kubeconfig "$d/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(port "$c" 259)" \
    --leader-elect=false --profiling=false

  # KWOK plays the kubelet of every node annotated kwok.x-k8s.io/node=fake.
  # Node and pod IPs are never dialled (no kubelet behind them); the node IP
  # is loopback so that nothing (kubectl logs/exec) ever leaves the machine.
  start_component "$c" kwok \
    --kubeconfig "$d/kwok.kubeconfig" \
    --config "$STAGES" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 \
    --cidr "10.$((240 + i)).0.1/16" \
    --node-lease-duration-seconds 40
}

node_manifest() { # node_manifest <node>
  cat <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    beta.kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: kwok
    type: kwok
spec: {}
status:
  capacity: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 200Gi}
  allocatable: {cpu: "8", memory: 31Gi, pods: "110", ephemeral-storage: 190Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    osImage: KWOK fake node
    kubeletVersion: fake
    kubeProxyVersion: fake
    containerRuntimeVersion: kwok
    kernelVersion: fake
    machineID: ""
    systemUUID: ""
    bootID: ""
YAML
}

nodes_ready() { # all listed nodes Ready=True
  local kc="$1"; shift
  local n st
  for n in "$@"; do
    st="$("$KUBECTL" --kubeconfig "$kc" get node "$n" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" || return 1
    [[ "$st" == "True" ]] || return 1
  done
}

configure_cluster() {
  local c="$1" kc="$MMC_CLUSTERS_DIR/$1/admin.kubeconfig" n
  local -a nodes
  read -r -a nodes <<< "${CLUSTER_NODES[$c]}"
  if [[ "$NODES_MODE" == real ]]; then
    real_nodes_up "$c" || return 1
    nodes=()
  fi
  for n in "${nodes[@]}"; do
    # Created (not applied) so that status.capacity/allocatable are kept:
    # the Node registry, like kubelet registration, accepts status on create.
    if ! "$KUBECTL" --kubeconfig "$kc" get node "$n" >/dev/null 2>&1; then
      node_manifest "$n" | "$KUBECTL" --kubeconfig "$kc" create -f - >/dev/null
      log "$c: registered node $n"
    fi
  done
  "$KUBECTL" --kubeconfig "$kc" apply --server-side --field-manager mysql-multicluster-clusters \
    -f "$HERE/mcs-crds.yaml" >/dev/null
}

wait_cluster() {
  local c="$1" kc="$MMC_CLUSTERS_DIR/$1/admin.kubeconfig"
  local -a nodes
  read -r -a nodes <<< "${CLUSTER_NODES[$c]}"
  wait_for "$c nodes Ready (${nodes[*]})" nodes_ready "$kc" "${nodes[@]}" || return 1
  wait_for "$c MCS CRDs Established" "$KUBECTL" --kubeconfig "$kc" wait --for condition=Established \
    --timeout 5s crd/serviceexports.multicluster.x-k8s.io crd/serviceimports.multicluster.x-k8s.io || return 1
  # Pods are rejected until the service-account controller made "default".
  wait_for "$c default ServiceAccount" "$KUBECTL" --kubeconfig "$kc" -n default get serviceaccount default || return 1
  local comp
  for comp in "${COMPONENTS[@]}"; do
    [[ -n "$(component_pid "$c" "$comp")" ]] || { log "$c: $comp is not running, see $MMC_CLUSTERS_DIR/$c/logs/$comp.log"; tail -n 20 "$MMC_CLUSTERS_DIR/$c/logs/$comp.log" >&2 || true; return 1; }
  done
}

merge_kubeconfig() {
  local files=() c
  for c in "${CLUSTERS[@]}"; do files+=("$MMC_CLUSTERS_DIR/$c/admin.kubeconfig"); done
  KUBECONFIG="$(IFS=:; echo "${files[*]}")" "$KUBECTL" config view --flatten > "$MMC_CLUSTERS_DIR/kubeconfig.tmp"
  "$KUBECTL" --kubeconfig "$MMC_CLUSTERS_DIR/kubeconfig.tmp" config use-context "$(context_name cluster1)" >/dev/null
  chmod 600 "$MMC_CLUSTERS_DIR/kubeconfig.tmp"
  mv "$MMC_CLUSTERS_DIR/kubeconfig.tmp" "$MMC_CLUSTERS_DIR/kubeconfig"
}

fail_with_logs() {
  local c comp
  for c in "${CLUSTERS[@]}"; do
    for comp in "${COMPONENTS[@]}"; do
      if [[ -z "$(component_pid "$c" "$comp")" && -f "$MMC_CLUSTERS_DIR/$c/logs/$comp.log" ]]; then
        log "$c/$comp is not running; last log lines:"
        tail -n 15 "$MMC_CLUSTERS_DIR/$c/logs/$comp.log" >&2 || true
      fi
    done
  done
  die "$*"
}

mkdir -p "$MMC_CLUSTERS_DIR"
echo "$NODES_MODE" > "$MMC_CLUSTERS_DIR/nodes-mode"
START=$(date +%s)
if [[ "$NODES_MODE" == real ]]; then
  real_nodes_prepare "$BIN" || die "real nodes: builds or network failed"
fi
# The clusters come up one after another (etcd and apiserver startup is CPU
# bound; on 2 cores parallel starts are not faster) ...
for c in "${CLUSTERS[@]}"; do
  start_cluster "$c" || fail_with_logs "$c control plane did not start"
  configure_cluster "$c" || fail_with_logs "$c could not be configured"
done
# ... and are then checked together.
for c in "${CLUSTERS[@]}"; do
  wait_cluster "$c" || fail_with_logs "$c did not become ready"
done
merge_kubeconfig
if [[ "$NODES_MODE" == real ]]; then
  for c in "${CLUSTERS[@]}"; do real_nodes_wait "$c" || fail_with_logs "$c: real nodes or CoreDNS not ready"; done
  mcs_shim_start "$MCS_PROFILE" || die "the test MCS controller did not start"
fi
log "3 clusters ready in $(( $(date +%s) - START ))s; kubeconfig: $MMC_CLUSTERS_DIR/kubeconfig (contexts: $(for c in "${CLUSTERS[@]}"; do printf '%s ' "$(context_name "$c")"; done))"
echo "$MMC_CLUSTERS_DIR/kubeconfig"
