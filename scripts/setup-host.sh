#!/usr/bin/env bash
# setup-host.sh — prepares this machine for the integration tests (root, idempotent, quiet when all
# is in place). Network: Debian apt only.
#   1. apt-installs what is missing of: podman crun runc uidmap gcc libc6-dev gcc-multilib (optional)
#      python3 util-linux xz-utils mawk gawk busybox systemd (only when systemd-analyze is missing),
#      docker.io and containerd (their services are not started: the Docker and containerd tests
#      start their own daemons on temp folders and stop them).
#   2. /etc/containers/containers.conf: [containers] default_ulimits (this VM lacks CAP_SYS_RESOURCE,
#      so Podman's default nofile=1048576 makes every container fail with "setrlimit ... not permitted").
#   3. cgroup hybrid mode: crun refuses to start ("cgroups in hybrid mode not supported, drop all
#      controllers from cgroupv2") while /sys/fs/cgroup/unified/cgroup.controllers is not empty; mounting
#      those controllers (hugetlb here) as cgroup v1 hierarchies moves them out of the v2 tree.
#   4. A test rootfs without a registry: busybox-static + libc6 + libc-bin unpacked into
#      /var/lib/oci-gpu-test/rootfs (for `podman run --rootfs`), also imported as the image
#      localhost/oci-gpu-test:latest.
#   5. A Debian 12 rootfs with systemd (debootstrap, minbase: no Node.js) in
#      /var/lib/oci-gpu-test/systemd-rootfs, which test/integration/systemd-unit.test.ts boots with
#      `podman run --systemd=always` to install the .deb and run the unit under a real systemd.
#   6. Checks that `podman run /bin/true` works with crun and with runc.
set -eu

ME=setup-host
STATE_DIR=/var/lib/oci-gpu-test
ROOTFS=$STATE_DIR/rootfs
IMAGE=localhost/oci-gpu-test:latest
# Bump when the rootfs recipe changes: an older rootfs (and image) is then rebuilt.
ROOTFS_VERSION=1
ROOTFS_PACKAGES="busybox-static libc6 libc-bin"
CONF=/etc/containers/containers.conf
ULIMITS='default_ulimits = ["nofile=16384:16384","nproc=16384:16384"]'

say() { printf '%s: %s\n' "$ME" "$*"; }
warn() { printf '%s: warning: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  die "must run as root (it installs packages, mounts cgroups and writes $CONF)"
fi

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$STATE_DIR"
# Two test runs may set up at the same time: one at a time.
exec 9>"$STATE_DIR/.setup.lock"
flock -w 600 9 || die "timed out waiting for $STATE_DIR/.setup.lock"

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
}

# apt_install PKG... — installs, running `apt-get update` first only when the package lists are stale.
apt_install() {
  local log
  log=$(mktemp)
  if ! apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    apt_update
    if ! apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      rm -f "$log"
      return 1
    fi
  fi
  rm -f "$log"
}

# --- 1. packages -------------------------------------------------------------------------------
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

missing=""
# mawk, gawk and busybox: the post-mount step's awk is tested with each (mawk is Debian's and Ubuntu's default).
for pkg in podman crun runc uidmap gcc libc6-dev python3 util-linux xz-utils mawk gawk busybox debootstrap; do
  installed "$pkg" || missing="$missing $pkg"
done
# systemd is only wanted for systemd-analyze; never (re)install it when that is already there.
command -v systemd-analyze >/dev/null 2>&1 || installed systemd || missing="$missing systemd"
# Docker (Debian's 20.10) and containerd (1.6) for test/integration/{docker,containerd}.test.ts.
for pkg in docker.io containerd; do
  installed "$pkg" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  say "installing:$missing"
  # Their maintainer scripts would start dockerd and containerd for the whole machine: a
  # policy-rc.d that refuses every start keeps them stopped (left alone when one is already there).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# oci-gpu setup-host.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  # shellcheck disable=SC2086 # word splitting intended
  apt_install $missing || { [ -z "$policy" ] || rm -f "$policy"; die "apt-get install failed for:$missing"; }
  [ -z "$policy" ] || rm -f "$policy"
fi
if ! installed gcc-multilib; then
  say "installing: gcc-multilib"
  apt_install gcc-multilib || warn "gcc-multilib not installed: tests that build 32-bit libraries will skip"
fi

# --- 2. containers.conf default_ulimits ---------------------------------------------------------
# Prints "set" when [containers] already has default_ulimits, "section" when only the table exists.
conf_state() {
  awk '
    /^[[:space:]]*\[/ { in_c = ($0 ~ /^[[:space:]]*\[containers\][[:space:]]*(#.*)?$/); if (in_c) sect = 1; next }
    in_c && /^[[:space:]]*default_ulimits[[:space:]]*=/ { found = 1 }
    END { print (found ? "set" : (sect ? "section" : "none")) }
  ' "$CONF"
}

if [ ! -e "$CONF" ]; then
  mkdir -p "$(dirname "$CONF")"
  printf '[containers]\n# oci-gpu: this host lacks CAP_SYS_RESOURCE; keep limits under its hard limits.\n%s\n' "$ULIMITS" >"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
  say "wrote $CONF (default_ulimits)"
else
  state=$(conf_state)
  if [ "$state" != set ]; then
    cp -p "$CONF" "$CONF.oci-gpu.bak"
    if [ "$state" = section ]; then
      # Insert right under the first [containers] header; everything else stays as it was.
      awk -v line="$ULIMITS" '
        { print }
        !done && /^[[:space:]]*\[containers\][[:space:]]*(#.*)?$/ { print line; done = 1 }
      ' "$CONF" >"$CONF.tmp"
    else
      { cat "$CONF"; printf '\n[containers]\n%s\n' "$ULIMITS"; } >"$CONF.tmp"
    fi
    chmod --reference="$CONF" "$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    say "added default_ulimits under [containers] in $CONF (backup: $CONF.oci-gpu.bak)"
  fi
fi

# --- 3. cgroup hybrid mode (crun) ----------------------------------------------------------------
unified=/sys/fs/cgroup/unified/cgroup.controllers
# (cgroupfs files report size 0: read them, `test -s` is always false.)
controllers=$(cat "$unified" 2>/dev/null || true)
if [ -n "$controllers" ]; then
  for ctrl in $controllers; do
    mnt=/sys/fs/cgroup/$ctrl
    mountpoint -q "$mnt" 2>/dev/null && continue
    mkdir -p "$mnt" 2>/dev/null || true
    if mount -t cgroup -o "$ctrl" cgroup "$mnt" 2>/dev/null; then
      say "mounted cgroup v1 $ctrl at $mnt (crun refuses controllers left in the v2 tree of a hybrid host)"
    else
      warn "could not mount cgroup v1 $ctrl at $mnt: crun may fail with 'cgroups in hybrid mode not supported'"
    fi
  done
fi

# --- 4. test rootfs + image -----------------------------------------------------------------------
stamp=$ROOTFS/.oci-gpu-test-rootfs
rebuilt=0
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$ROOTFS_VERSION" ] || [ ! -x "$ROOTFS/sbin/ldconfig" ] \
   || [ ! -x "$ROOTFS/bin/busybox" ]; then
  say "building test rootfs in $ROOTFS"
  work=$(mktemp -d "$STATE_DIR/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/debs" "$work/rootfs"
  # shellcheck disable=SC2086
  if ! (cd "$work/debs" && apt-get download -o APT::Sandbox::User=root $ROOTFS_PACKAGES >/dev/null 2>&1); then
    apt_update
    # shellcheck disable=SC2086
    (cd "$work/debs" && apt-get download -o APT::Sandbox::User=root $ROOTFS_PACKAGES >/dev/null) \
      || die "apt-get download $ROOTFS_PACKAGES failed"
  fi
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/rootfs"; done
  r=$work/rootfs
  rm -rf "$r/usr/share/doc" "$r/usr/share/locale" "$r/usr/share/man" "$r/usr/share/lintian" \
         "$r/usr/lib/x86_64-linux-gnu/gconv"
  mkdir -p "$r/dev" "$r/proc" "$r/sys" "$r/tmp" "$r/run" "$r/root" "$r/etc" "$r/usr/bin" "$r/usr/sbin"
  chmod 1777 "$r/tmp"
  # Applets as symlinks where nothing else is (ldconfig from libc-bin stays the real one).
  # Relative links, so they also resolve when the rootfs is inspected from the host.
  for a in $("$r/bin/busybox" --list-full); do
    case $a in */*) ;; *) continue ;; esac # linuxrc
    [ -e "$r/$a" ] || [ -L "$r/$a" ] && continue
    up=$(printf '%s' "${a%/*}" | sed 's,[^/][^/]*,..,g')
    ln -s "$up/bin/busybox" "$r/$a"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  # A real image ships an ld cache; build it with the image's own (static) ldconfig.
  "$r/sbin/ldconfig" -r "$r" || die "ldconfig -r $r failed"
  echo "$ROOTFS_VERSION" >"$r/.oci-gpu-test-rootfs"
  rm -rf "$ROOTFS.old"
  [ -e "$ROOTFS" ] && mv "$ROOTFS" "$ROOTFS.old"
  mv "$r" "$ROOTFS"
  rm -rf "$ROOTFS.old" "$work"
  trap - EXIT
  rebuilt=1
fi

if [ "$rebuilt" -eq 1 ] || ! podman image exists "$IMAGE" >/dev/null 2>&1; then
  old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  tar -C "$ROOTFS" --exclude ./.oci-gpu-test-rootfs -cf - . | podman import -q - "$IMAGE" >/dev/null \
    || die "podman import of $ROOTFS as $IMAGE failed"
  # The tag moved; drop the old image unless a container (another test run) still uses it. Never -f.
  [ -z "$old_id" ] || podman image rm "$old_id" >/dev/null 2>&1 || true
  say "imported $ROOTFS as $IMAGE"
fi

# --- 5. systemd rootfs ---------------------------------------------------------------------------
SYSTEMD_ROOTFS=$STATE_DIR/systemd-rootfs
# Bump when the recipe changes: an older tree is then rebuilt.
SYSTEMD_ROOTFS_VERSION=1
SYSTEMD_SUITE=bookworm
SYSTEMD_MIRROR=http://deb.debian.org/debian
sd_stamp=$SYSTEMD_ROOTFS/.oci-gpu-test-rootfs
if [ "$(cat "$sd_stamp" 2>/dev/null || true)" != "$SYSTEMD_ROOTFS_VERSION" ] || [ ! -x "$SYSTEMD_ROOTFS/lib/systemd/systemd" ]; then
  say "building the systemd test rootfs in $SYSTEMD_ROOTFS (debootstrap $SYSTEMD_SUITE, about a minute)"
  work=$(mktemp -d "$STATE_DIR/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  if ! debootstrap --variant=minbase --include=systemd,systemd-sysv "$SYSTEMD_SUITE" "$work/rootfs" "$SYSTEMD_MIRROR" >"$work/log" 2>&1; then
    tail -n 20 "$work/log" >&2
    die "debootstrap $SYSTEMD_SUITE from $SYSTEMD_MIRROR failed"
  fi
  rm -f "$work"/rootfs/var/cache/apt/archives/*.deb
  echo "$SYSTEMD_ROOTFS_VERSION" >"$work/rootfs/.oci-gpu-test-rootfs"
  rm -rf "$SYSTEMD_ROOTFS.old"
  [ -e "$SYSTEMD_ROOTFS" ] && mv "$SYSTEMD_ROOTFS" "$SYSTEMD_ROOTFS.old"
  mv "$work/rootfs" "$SYSTEMD_ROOTFS"
  rm -rf "$SYSTEMD_ROOTFS.old" "$work"
  trap - EXIT
fi

# --- 6. check ------------------------------------------------------------------------------------
for rt in crun runc; do
  if ! out=$(podman --runtime "$rt" run --rm --network none --pull never "$IMAGE" /bin/true 2>&1); then
    die "podman --runtime $rt run $IMAGE /bin/true fails: $out"
  fi
done
