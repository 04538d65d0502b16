#!/usr/bin/env bash
# Root filesystem of a database server from Debian packages (mmdebstrap --variant=minbase), the
# image content the data-plane tier (and the real-node images) run:
#   mysql:   sid (its Release file is expired on snapshot mirrors: Check-Valid-Until off),
#            mysql-server 9.7 (CLONE and semi-sync plugins) + client;
#   mariadb: bookworm, mariadb-server 10.11 + mariadb-backup (mbstream) + client;
# both with the tools the scripts of components/scripts/ call (bash, socat, openssl, coreutils,
# procps, findutils, gawk). The `mysql` user is uid/gid 999 as in the official images; the package's
# initial data directory is removed (the scripts initialise or seed it); /etc/hosts names localhost
# (a runtime mounts its own over it).
# sid packages are only ever installed into the root filesystem, never on the host.
#
# Cached under ${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}/rootfs-<engine>-<key>, key = hash
# of the suite, package list and this script; a stamp file beside it marks a completed build.
# usage: tools/images/rootfs.sh <mariadb|mysql>    -> prints the root filesystem path (last line)
set -euo pipefail

ENGINE=${1:-}
CACHE_ROOT="${MMC_CACHE_DIR:-$HOME/.cache/mysql-multicluster}"
TOOLS=(bash coreutils findutils gawk grep sed procps socat openssl ca-certificates tzdata hostname)
case "$ENGINE" in
    mysql)
        SUITE=sid
        # systemd-standalone-sysusers satisfies mysql-server's sysusers need without systemd
        PKGS=(mysql-server mysql-client systemd-standalone-sysusers "${TOOLS[@]}")
        EXTRA_SOURCES=()
        ;;
    mariadb)
        SUITE=bookworm
        PKGS=(mariadb-server mariadb-backup mariadb-client "${TOOLS[@]}")
        EXTRA_SOURCES=(security updates)
        ;;
    *) echo "usage: $0 <mariadb|mysql>  (engine: got '${ENGINE}')" >&2; exit 2 ;;
esac

log() { echo "[images/rootfs] $*" >&2; }

# The Debian mirror this machine reaches, read from apt's own sources (never hard-coded); override: MMC_DEBIAN_MIRROR.
mirror() {
    local m
    m=$(grep -rhoE '(^URIs:|^deb)[[:space:]].*https?://[^ ]+/debian( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | grep -oE 'https?://[^ ]+/debian' | head -1) || true
    echo "${m:-http://deb.debian.org/debian}"
}
MIRROR=${MMC_DEBIAN_MIRROR:-$(mirror)}

SELF_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)
KEY=$(printf '%s\n' "$ENGINE" "$SUITE" "${PKGS[@]}" "$SELF_HASH" | sha256sum | cut -c1-12)
DIR="$CACHE_ROOT/rootfs-$ENGINE-$KEY"
STAMP="$DIR.complete"

verify() {
    local ver
    if [ "$ENGINE" = mysql ]; then
        ver=$(chroot "$DIR" mysqld --version 2>/dev/null) || return 1
        [[ "$ver" == *" 9."* ]] || { log "mysqld --version: $ver (want 9.x)"; return 1; }
        for f in mysql_clone.so semisync_source.so semisync_replica.so; do
            [ -f "$DIR/usr/lib/mysql/plugin/$f" ] || { log "missing plugin $f"; return 1; }
        done
    else
        ver=$(chroot "$DIR" mariadbd --version 2>/dev/null) || return 1
        [[ "$ver" == *"10.11."* ]] || { log "mariadbd --version: $ver (want 10.11)"; return 1; }
        chroot "$DIR" mbstream --version >/dev/null 2>&1 || chroot "$DIR" sh -c 'command -v mbstream' >/dev/null || return 1
    fi
    [ "$(chroot "$DIR" id -u mysql)" = 999 ] && [ "$(chroot "$DIR" id -g mysql)" = 999 ] || { log "mysql is not uid/gid 999"; return 1; }
    chroot "$DIR" sh -c 'command -v socat && command -v openssl && command -v timeout && command -v pgrep' >/dev/null || { log "tools missing"; return 1; }
    echo "$ver"
}

mkdir -p "$CACHE_ROOT"
exec {lockfd}>"$CACHE_ROOT/rootfs-$ENGINE.lock"
flock "$lockfd"   # one build per engine at a time; a second caller waits, then reuses it

if [ -f "$STAMP" ] && verify >/dev/null; then
    echo "$DIR"
    exit 0
fi
[ "$(id -u)" = 0 ] || { log "building a root filesystem needs root"; exit 1; }
if ! command -v mmdebstrap >/dev/null; then
    log "installing mmdebstrap (host: $(. /etc/os-release; echo "$PRETTY_NAME"))"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

log "building $DIR ($SUITE: ${PKGS[*]}) from $MIRROR"
rm -rf "$DIR" "$DIR.tmp" "$STAMP"
DEBS="$CACHE_ROOT/debs-$SUITE"   # downloaded .debs, reused by a rebuild
mkdir -p "$DEBS"
sources=("deb $MIRROR $SUITE main")
for s in "${EXTRA_SOURCES[@]}"; do
    case "$s" in
        security) sources+=("deb ${MIRROR%/debian}/debian-security $SUITE-security main") ;;
        updates) sources+=("deb $MIRROR $SUITE-updates main") ;;
    esac
done
t0=$SECONDS
pkgs=$(IFS=,; echo "${PKGS[*]}")
mmdebstrap --variant=minbase --quiet \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="sync-in $DEBS/ /var/cache/apt/archives/" \
    --essential-hook='echo "mysql:x:999:999:MySQL Server:/var/lib/mysql:/bin/false" >>"$1/etc/passwd"; echo "mysql:x:999:" >>"$1/etc/group"' \
    --include="$pkgs" \
    --customize-hook="sync-out /var/cache/apt/archives $DEBS" \
    --customize-hook='rm -rf "$1"/var/lib/mysql/* "$1"/var/log/mysql/* "$1"/var/cache/apt/archives/*.deb' \
    --customize-hook='[ -e "$1/etc/hosts" ] || printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n" >"$1/etc/hosts"' \
    "$SUITE" "$DIR.tmp" "${sources[@]}" >&2
mv "$DIR.tmp" "$DIR"
ver=$(verify) || { log "the built root filesystem fails verification"; exit 1; }
printf 'engine=%s suite=%s version=%s built=%s packages=%s\n' "$ENGINE" "$SUITE" "$ver" "$(date -u +%FT%TZ)" "$pkgs" >"$STAMP"
log "built in $((SECONDS - t0)) s: $ver ($(du -sh "$DIR" | cut -f1))"
echo "$DIR"
