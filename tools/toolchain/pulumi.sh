#!/usr/bin/env bash
# Build the Pulumi engine from Go modules, cached outside the repo, keyed by versions.
#
#   bash tools/toolchain/pulumi.sh            # build (or reuse) and print a one-line summary
#   source "$(bash tools/toolchain/pulumi.sh --env)"   # put the engine on PATH
#
# Layout (CACHE = ${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}):
#   $CACHE/pulumi-<key>/bin/pulumi                      CLI   (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
#   $CACHE/pulumi-<key>/bin/pulumi-language-nodejs      Node.js language host
#   $CACHE/pulumi-<key>/home/plugins/resource-<name>-v<ver>/pulumi-resource-<name>
#   $CACHE/pulumi-<key>/env.sh                          sourced by tests
#   $CACHE/pulumi-env.sh                                -> the current key's env.sh
#
# Every piece comes from the Go module proxy at build time; nothing is downloaded from
# elsewhere and automatic plugin downloads are disabled in env.sh.
# A piece that cannot be built is reported with the exact module and error, and the
# script exits non-zero (unless MMC_PULUMI_ALLOW_PARTIAL=1, which still reports it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

# Versions: the CLI follows the npm SDK, the providers follow their npm SDKs (package.json).
pkgver() { node -e 'const p=require(process.argv[1]);const v=(p.dependencies||{})[process.argv[2]];if(!v){process.exit(1)};console.log(v.replace(/^[\^~=]/,""))' "$REPO/package.json" "$1"; }
PULUMI_VERSION="${PULUMI_VERSION:-$(pkgver @pulumi/pulumi)}"
# A provider is built only when package.json depends on its SDK (empty = not needed).
K8S_PROVIDER_VERSION="${K8S_PROVIDER_VERSION-$(pkgver @pulumi/kubernetes || true)}"
RANDOM_PROVIDER_VERSION="${RANDOM_PROVIDER_VERSION-$(pkgver @pulumi/random || true)}"
# pulumi-tls is a test-only stand-in with its own cache key (tools/toolchain/tls-standin.sh): its version is
# deliberately NOT part of KEY below, so adding or bumping it never rebuilds the cached engine; it is
# installed into the cached engine's plugins on every run.
TLS_PROVIDER_VERSION="${TLS_PROVIDER_VERSION-$(pkgver @pulumi/tls || true)}"
# Bumped when this script changes what it produces.
RECIPE=1

CACHE="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
KEY="cli${PULUMI_VERSION}-k8s${K8S_PROVIDER_VERSION:-none}-random${RANDOM_PROVIDER_VERSION:-none}-r${RECIPE}"
ROOT="$CACHE/pulumi-$KEY"
BIN="$ROOT/bin"
PHOME="$ROOT/home"
SRC="$ROOT/src"
LOGDIR="$ROOT/logs"
ENVFILE="$ROOT/env.sh"

if [[ "${1:-}" == "--env" ]]; then
  echo "$ENVFILE"
  exit 0
fi

mkdir -p "$BIN" "$PHOME/plugins" "$SRC" "$LOGDIR"

# Go settings: module proxy only. The checksum database served here lags behind the
# proxy for recent github.com/pulumi releases (lookups answer 404), so those modules are
# checked against the go.sum files their own release ships instead of the sumdb.
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=mod"
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi/*,github.com/tgummerer/*"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
GO_LDFLAGS_BASE="-s -w"

FAILED=()
note() { printf '[pulumi.sh] %s\n' "$*" >&2; }
fail_piece() { FAILED+=("$1"); note "CANNOT BUILD $1"; }

# Download a module; on failure print the proxy's own answer and return 1.
moddir() { # module@version -> prints Dir
  local out
  out="$(cd "$SRC" && go mod download -json "$1" 2>&1)" || true
  local dir err
  dir="$(printf '%s' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -1)"
  err="$(printf '%s' "$out" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' | head -1)"
  if [[ -n "$err" || -z "$dir" ]]; then
    note "module $1 unavailable: ${err:-$out}"
    return 1
  fi
  printf '%s\n' "$dir"
}

# Turn a module's go.mod into a wrapper go.mod: its requires + its replaces, with
# directory replaces (../sdk) rewritten to the module at the release's version.
# $1 = wrapper dir, $2 = module path, $3 = version, $4 = module dir, $5.. = "path=>path version" overrides
write_wrapper() {
  local w="$1" mpath="$2" mver="$3" mdir="$4"; shift 4
  mkdir -p "$w"
  node - "$mdir/go.mod" "$mpath" "$mver" "$w/go.mod" "$@" <<'EOF'
const fs = require('fs');
const [gomod, mpath, mver, out, ...overrides] = process.argv.slice(2);
const text = fs.readFileSync(gomod, 'utf8');
const lines = text.split('\n');
const goLine = lines.find(l => /^go\s+\d/.test(l)) || 'go 1.25';
const reqs = [], reps = [];
let block = null;
for (const raw of lines) {
  const l = raw.replace(/\/\/.*$/, '').trim();
  if (!l) continue;
  if (block) { if (l === ')') { block = null; continue; } (block === 'require' ? reqs : reps).push(l); continue; }
  let m;
  if ((m = l.match(/^(require|replace)\s*\($/))) { block = m[1]; continue; }
  if ((m = l.match(/^require\s+(.*)$/))) reqs.push(m[1]);
  else if ((m = l.match(/^replace\s+(.*)$/))) reps.push(m[1]);
}
const ov = new Map(overrides.map(o => { const [k, v] = o.split('=>').map(s => s.trim()); return [k, v]; }));
const outReps = [];
for (const r of reps) {
  const [lhs, rhs] = r.split('=>').map(s => s.trim());
  const lpath = lhs.split(/\s+/)[0];
  const rparts = rhs.split(/\s+/);
  if (rparts.length === 1 && (rparts[0].startsWith('.') || rparts[0].startsWith('/'))) {
    // directory replace inside the source repo: needs an explicit module version
    if (!ov.has(lpath)) { console.error(`directory replace without override: ${r}`); process.exit(2); }
    outReps.push(`${lpath} => ${ov.get(lpath)}`);
    ov.delete(lpath);
  } else outReps.push(`${lhs} => ${rhs}`);
}
for (const [k, v] of ov) outReps.push(`${k} => ${v}`);
if (process.env.WRAPPER_NO_REPLACE === '1') outReps.length = 0;
let s = `module ${process.env.WRAPPER_MODULE || 'mmc.local/wrapper'}\n\n${goLine}\n\nrequire ${mpath} ${mver}\n\nrequire (\n`;
for (const r of reqs) s += `\t${r}\n`;
s += `)\n\n`;
for (const r of outReps) s += `replace ${r}\n`;
fs.writeFileSync(out, s);
EOF
  if [[ -f "$mdir/go.sum" ]]; then cp "$mdir/go.sum" "$w/go.sum"; chmod u+w "$w/go.sum"; fi
}

build_in() { # wrapper dir, output, ldflags, package
  local w="$1" out="$2" ld="$3" pkg="$4" log
  log="$LOGDIR/$(basename "$2").log"
  note "building $pkg -> $out (log $log)"
  if ! (cd "$w" && go build -trimpath -ldflags "$GO_LDFLAGS_BASE $ld" -o "$out.tmp" "$pkg") >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    return 1
  fi
  mv "$out.tmp" "$out"
}

# ---------------------------------------------------------------- CLI
build_cli() {
  local out="$BIN/pulumi"
  if [[ -x "$out" ]] && [[ "$("$out" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]; then return 0; fi
  local dir
  dir="$(moddir "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION")" || { fail_piece "pulumi CLI (github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION)"; return 0; }
  local w="$SRC/cli"
  write_wrapper "$w" github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION" "$dir" \
    "github.com/pulumi/pulumi/sdk/v3=>github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION"
  build_in "$w" "$out" "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi || { fail_piece "pulumi CLI (build failed, see $LOGDIR/pulumi.log)"; return 0; }
}

# ---------------------------------------------------------------- Node.js language host
# Pulumi's own host lives in github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3.
# If the proxy serves it, build it; otherwise build this repo's host
# (tools/toolchain/pulumi/language-nodejs, LanguageRuntime protocol of sdk/v3 at the same release).
LANGHOST_KIND=""
build_langhost() {
  local out="$BIN/pulumi-language-nodejs" stamp="$BIN/.pulumi-language-nodejs.kind"
  local ownsum
  ownsum="$(cat "$HERE/pulumi/language-nodejs/"*.go | sha256sum | cut -c1-16)"
  if [[ -x "$out" && -f "$stamp" ]]; then
    local k; k="$(cat "$stamp")"
    if [[ "$k" == upstream || "$k" == "own-$ownsum" ]]; then LANGHOST_KIND="$k"; return 0; fi
  fi
  local mod="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3" dir
  if dir="$(moddir "$mod@v$PULUMI_VERSION")"; then
    local w="$SRC/langhost-upstream"
    write_wrapper "$w" "$mod" "v$PULUMI_VERSION" "$dir" \
      "github.com/pulumi/pulumi/sdk/v3=>github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION" \
      "github.com/pulumi/pulumi/pkg/v3=>github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION"
    if build_in "$w" "$out" "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" "$mod"; then
      echo upstream >"$stamp"; LANGHOST_KIND=upstream; return 0
    fi
    note "upstream language host did not build; falling back to this repo's host"
  else
    note "upstream language host $mod@v$PULUMI_VERSION is not served by the module proxy; building this repo's host"
  fi
  local sdkdir
  sdkdir="$(moddir "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION")" || { fail_piece "language host (github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION unavailable)"; return 0; }
  local w="$SRC/langhost-own"
  rm -rf "$w"
  WRAPPER_NO_REPLACE=1 WRAPPER_MODULE=mmc.local/pulumi-language-nodejs \
    write_wrapper "$w" github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION" "$sdkdir"
  cp "$HERE/pulumi/language-nodejs/"*.go "$w/"
  build_in "$w" "$out" "-X main.version=v$PULUMI_VERSION" . \
    || { fail_piece "language host (build failed, see $LOGDIR/pulumi-language-nodejs.log)"; return 0; }
  echo "own-$ownsum" >"$stamp"; LANGHOST_KIND="own-$ownsum"
}

# Dynamic providers (pulumi.dynamic.Resource) need pulumi-resource-pulumi-nodejs next to the CLI;
# the CLI release ships it as a shim that runs @pulumi/pulumi/cmd/dynamic-provider.
install_dynamic_shim() {
  cat >"$BIN/pulumi-resource-pulumi-nodejs" <<'SH'
#!/bin/sh
# Runs the dynamic-provider host of the @pulumi/pulumi that the program resolves.
script=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))") || exit 1
exec node "$script" "$@"
SH
  chmod +x "$BIN/pulumi-resource-pulumi-nodejs"
}

# ---------------------------------------------------------------- providers
# A provider is built from a writable copy of its module (so its own go.mod, replaces and
# go.sum apply, as in its release build). Directory replaces (=> ../sdk) are rewritten to the
# module version the go.mod requires. Files the provider //go:embeds but the module zip lacks
# (schema-embed.json, terraform-mapping-embed.json, ...) are produced by the module's own
# `//go:build ignore` generator next to main.go (generate.go), with VERSION set.
#
# The proxy reachable here refuses the pinned provider releases (403 "This module version is not
# available"). When the pinned version is refused and a fallback version is configured, the
# fallback is built with its REAL version and installed as an ambient plugin on PATH ($BIN);
# the engine then uses it for the version the SDK asks for and prints
# "warning: using pulumi-resource-<name> from $PATH". Set MMC_PULUMI_NO_FALLBACK=1 to refuse that.
PROVIDERS_BUILT=()
SUBSTITUTES=()
# $1 name, $2 wanted version, $3 module, $4 package dir inside the module, $5 version ldflag var, $6 fallback version
build_provider() {
  local name="$1" ver="$2" mod="$3" sub="$4" var="$5" fallback="${6:-}"
  [[ -z "$ver" ]] && return 0
  local pdir="$PHOME/plugins/resource-$name-v$ver" out
  out="$pdir/pulumi-resource-$name"
  if [[ -x "$out" ]]; then PROVIDERS_BUILT+=("$name@$ver"); return 0; fi
  local dir use="$ver"
  if ! dir="$(moddir "$mod@v$ver")"; then
    if [[ -z "$fallback" || "${MMC_PULUMI_NO_FALLBACK:-0}" == 1 ]]; then
      fail_piece "provider $name v$ver ($mod@v$ver is refused by the Go module proxy)"; return 0
    fi
    if ! dir="$(moddir "$mod@$fallback")"; then
      fail_piece "provider $name v$ver ($mod@v$ver and fallback @$fallback are refused by the Go module proxy)"; return 0
    fi
    use="${fallback#v}"
    out="$BIN/pulumi-resource-$name"
    if [[ -x "$out" && -f "$out.version" && "$(cat "$out.version")" == "$use" ]]; then
      PROVIDERS_BUILT+=("$name@$use(ambient,for-$ver)"); SUBSTITUTES+=("$name v$use stands in for v$ver"); return 0
    fi
    note "provider $name v$ver refused by the proxy; building $mod@$fallback instead (ambient plugin, real version $use)"
  fi
  local w="$SRC/provider-$name-$use"
  rm -rf "$w"; mkdir -p "$w"
  cp -R "$dir/." "$w/"; chmod -R u+w "$w"
  # directory replaces -> module versions from the require block
  node - "$w/go.mod" <<'EOF'
const fs = require('fs');
const f = process.argv[2];
let t = fs.readFileSync(f, 'utf8');
t = t.replace(/^replace\s+(\S+)\s+=>\s+(\.{1,2}\/\S*)\s*$/mg, (line, lhs) => {
  const m = t.match(new RegExp('^\\s*(?:require\\s+)?' + lhs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\s+(v\\S+)', 'm'));
  if (!m) { console.error('cannot resolve directory replace: ' + line); process.exit(2); }
  return `replace ${lhs} => ${lhs} ${m[1]}`;
});
fs.writeFileSync(f, t);
EOF
  local cmdir="$w/$sub"
  if [[ -f "$cmdir/generate.go" ]] && grep -q '^//go:build ignore' "$cmdir/generate.go"; then
    note "provider $name: generating embedded files with $sub/generate.go"
    (cd "$cmdir" && VERSION="$use" go run generate.go) >"$LOGDIR/generate-$name.log" 2>&1 \
      || { tail -n 20 "$LOGDIR/generate-$name.log" >&2; fail_piece "provider $name (generate.go failed, see $LOGDIR/generate-$name.log)"; return 0; }
  fi
  local missing="" f
  while read -r f; do
    [[ -z "$f" ]] && continue
    compgen -G "$cmdir/$f" >/dev/null || missing+=" $f"
  done < <(grep -hoE '^//go:embed .*' "$cmdir"/*.go | sed 's#^//go:embed ##' | tr ' ' '\n' | sort -u)
  if [[ -n "$missing" ]]; then
    fail_piece "provider $name v$use (embedded files missing and no generator:$missing)"; return 0
  fi
  mkdir -p "$(dirname "$out")"
  build_in "$w" "$out" "-X $var=$use" "./$sub" \
    || { fail_piece "provider $name v$use (build failed, see $LOGDIR/$(basename "$out").log)"; return 0; }
  if [[ "$use" == "$ver" ]]; then
    PROVIDERS_BUILT+=("$name@$ver")
  else
    echo "$use" >"$out.version"
    PROVIDERS_BUILT+=("$name@$use(ambient,for-$ver)"); SUBSTITUTES+=("$name v$use stands in for v$ver")
  fi
}

write_env() {
  local missing=""
  ((${#FAILED[@]})) && missing="$(printf '%s; ' "${FAILED[@]}")"
  {
    echo "# Generated by tools/toolchain/pulumi.sh: the locally built Pulumi engine."
    echo "export PATH=\"$BIN:\$PATH\""
    echo "export PULUMI_HOME=\"\${MMC_PULUMI_HOME:-$PHOME}\""
    echo "export PULUMI_SKIP_UPDATE_CHECK=true"
    echo "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
    echo "export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true"
    echo "export PULUMI_SKIP_CONFIRMATIONS=true"
    echo "export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true"
    echo "export MMC_PULUMI_ROOT=\"$ROOT\""
    echo "export MMC_PULUMI_BIN=\"$BIN\""
    echo "export MMC_PULUMI_VERSION=\"$PULUMI_VERSION\""
    echo "export MMC_PULUMI_PROVIDERS=\"${PROVIDERS_BUILT[*]:-}\""
    printf 'export MMC_PULUMI_SUBSTITUTES=%q\n' "$(printf '%s; ' "${SUBSTITUTES[@]:-}" | sed 's/; $//')"
    printf 'export MMC_PULUMI_MISSING=%q\n' "${missing%; }"
  } >"$ENVFILE"
  ln -sfn "$ENVFILE" "$CACHE/pulumi-env.sh"
}

# ---------------------------------------------------------------- main
t0=$(date +%s)
build_cli
build_langhost
install_dynamic_shim
# Fallback: the one provider/v4 version the proxy serves (a dependency of crd2pulumi v1.6.1).
build_provider kubernetes "$K8S_PROVIDER_VERSION" github.com/pulumi/pulumi-kubernetes/provider/v4 \
  cmd/pulumi-resource-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version \
  "${K8S_PROVIDER_FALLBACK-v4.0.0-20260115033456-f47bc2d6f199}"
# pulumi-random and pulumi-tls: the module proxy refuses github.com/pulumi/pulumi-random/provider/v4 and
# github.com/pulumi/pulumi-tls/provider/v5 at every version (and the terraform bridge), so this repo's
# TEST-ONLY stand-ins (tools/toolchain/random-standin, tools/toolchain/tls-standin, each with its own cache
# key) are installed under the real plugin names and versions; they say so wherever they appear.
install_standin() { # name, version
  local name="$1" ver="$2"
  [[ -z "$ver" ]] && return 0
  if bash "$HERE/standin.sh" "$name" "$PHOME/plugins" "$ver" "$PULUMI_VERSION" >/dev/null; then
    PROVIDERS_BUILT+=("$name@$ver(stand-in)")
    SUBSTITUTES+=("$name v$ver is this repo's test-only stand-in (tools/toolchain/$name-standin)")
  else
    fail_piece "provider $name v$ver (the stand-in did not build, see above)"
  fi
}
install_standin random "$RANDOM_PROVIDER_VERSION"
install_standin tls "$TLS_PROVIDER_VERSION"
write_env
t1=$(date +%s)

cliv="$("$BIN/pulumi" version 2>/dev/null || echo missing)"
summary="pulumi engine: cli $cliv, language-nodejs ${LANGHOST_KIND:-missing}, providers [${PROVIDERS_BUILT[*]:-none}] in $BIN (PULUMI_HOME $PHOME), env $ENVFILE, $((t1 - t0))s"
if ((${#SUBSTITUTES[@]})); then
  summary+="; SUBSTITUTES: $(printf '%s; ' "${SUBSTITUTES[@]}" | sed 's/; $//')"
fi
if ((${#FAILED[@]})); then
  summary+="; MISSING: $(printf '%s; ' "${FAILED[@]}" | sed 's/; $//')"
fi
echo "$summary"
if ((${#FAILED[@]})) && [[ "${MMC_PULUMI_ALLOW_PARTIAL:-0}" != 1 ]]; then
  exit 1
fi
