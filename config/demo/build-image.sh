#!/usr/bin/env bash
# Builds the local Docker image that Keel's demo platform and docker tests run: a root filesystem
# holding nothing but Debian's static busybox (sh, httpd, nc, sleep, ...), imported with
# `docker import` (no registry is needed).
#
#   config/demo/build-image.sh [TAG]     default TAG: keel-busybox:1
#
# The image is built once per tag: when TAG exists already nothing is done (remove it with
# `docker rmi TAG` to rebuild). Needs /bin/busybox from `apt-get install busybox-static`
# (installed by this script when missing and run as root).
set -euo pipefail
tag="${1:-keel-busybox:1}"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag exists"
    exit 0
fi

busybox=/bin/busybox
# Debian's dynamic `busybox` package installs /bin/busybox too; only the static one can be a
# whole root filesystem.
is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
if ! is_static "$busybox"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq busybox-static >/dev/null 2>&1 \
            || { apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null; }
    fi
fi
if ! is_static "$busybox"; then
    echo "a static busybox is needed at $busybox: apt-get install busybox-static" >&2
    exit 1
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/keel-image.XXXXXX")"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
echo ok > "$root/www/health"

tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh"]' \
    --message "Keel demo/test image: static busybox" \
    - "$tag" >/dev/null
echo "built $tag"
