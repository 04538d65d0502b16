#!/usr/bin/env bash
# Pack a root filesystem directory as a single-layer OCI image layout tar that
# `ctr -n k8s.io images import` names by itself (index annotation io.containerd.image.name).
#   oci.sh <rootfs dir> <out.tar> <image ref> <entrypoint JSON array or null> [<cmd JSON or null>]
# The layer is gzip -1 compressed: each node's content store keeps a copy, and this is cheap to make.
set -euo pipefail
ROOTFS="$1" OUT="$2" REF="$3" ENTRYPOINT="$4" CMD="${5:-null}"
W="$(mktemp -d "${OUT}.work.XXXX")"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/blobs/sha256"
tar -C "$ROOTFS" --sort=name --numeric-owner --mtime=@0 --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
  -cf "$W/layer.tar" .
DIFF="$(sha256sum "$W/layer.tar" | cut -d' ' -f1)"
gzip -n -1 "$W/layer.tar"
LDIG="$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1)"
LSIZE="$(stat -c %s "$W/layer.tar.gz")"
mv "$W/layer.tar.gz" "$W/blobs/sha256/$LDIG"
python3 - "$W" "$DIFF" "$LDIG" "$LSIZE" "$REF" "$ENTRYPOINT" "$CMD" <<'PY'
import hashlib, json, sys
w, diff, ldig, lsize, ref, entrypoint, cmd = sys.argv[1:]
def blob(obj):
    b = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    d = hashlib.sha256(b).hexdigest()
    open(f"{w}/blobs/sha256/{d}", "wb").write(b)
    return "sha256:" + d, len(b)
cfg = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
       "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
                  "Entrypoint": json.loads(entrypoint), "Cmd": json.loads(cmd), "WorkingDir": "/"},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]},
       "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tools/nodes/oci.sh"}]}
cdig, csize = blob(cfg)
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdig, "size": csize},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + ldig, "size": int(lsize)}]}
mdig, msize = blob(man)
idx = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig,
       "size": msize, "platform": {"architecture": "amd64", "os": "linux"},
       "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}}]}
json.dump(idx, open(f"{w}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{w}/oci-layout", "w"))
PY
tar -C "$W" -cf "$OUT.tmp" oci-layout index.json blobs
mv "$OUT.tmp" "$OUT"
