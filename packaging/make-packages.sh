#!/usr/bin/env bash
# Builds the release artefacts from a compiled central-server binary (run by `cargo xtask dist`,
# and by the package test on a debug build):
#   OUT/parkmesh-VERSION-ARCH.tar.gz  the binary, a sample configuration, the licences, INSTALL.md
#                                     and the systemd unit;
#   OUT/parkmesh_VERSION_ARCH.deb     /usr/bin/central-server, parkmesh.service, the configuration
#                                     as a conffile in /etc/parkmesh, maintainer scripts.
# Usage: make-packages.sh BINARY VERSION OUT
set -euo pipefail

binary="$1"
version="$2"
out="$3"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

if ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "error: dpkg-deb is missing (apt-get install dpkg)" >&2
    exit 1
fi
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage"

# The release profile keeps line tables for backtraces in development; a site PC gets the
# binary without them (binutils' strip, where installed).
install -m 0755 "$binary" "$stage/central-server"
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug "$stage/central-server"
fi
binary="$stage/central-server"

# The tarball.
name="parkmesh-$version-$(uname -m)"
tar_dir="$stage/$name"
install -D -m 0755 "$binary" "$tar_dir/central-server"
install -m 0644 "$root/config/p2p_config.json" "$tar_dir/p2p_config.json"
install -m 0644 "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$here/INSTALL.md" \
    "$here/parkmesh.service" "$tar_dir/"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$stage" -czf "$out/$name.tar.gz" "$name"

# The Debian package.
deb="$stage/deb"
install -D -m 0755 "$binary" "$deb/usr/bin/central-server"
install -D -m 0644 "$here/parkmesh.service" "$deb/usr/lib/systemd/system/parkmesh.service"
install -D -m 0640 "$here/p2p_config.json" "$deb/etc/parkmesh/p2p_config.json"
install -D -m 0644 "$here/INSTALL.md" "$deb/usr/share/doc/parkmesh/INSTALL.md"
{
    printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
    printf 'Upstream-Name: parkmesh\n\nFiles: *\nCopyright: 2026 The parkmesh authors\n'
    printf 'License: MIT or Apache-2.0\n\n'
    cat "$root/LICENSE-MIT"
} >"$deb/usr/share/doc/parkmesh/copyright"
chmod 0644 "$deb/usr/share/doc/parkmesh/copyright"
install -d -m 0755 "$deb/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$deb" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" "$here/debian/control" >"$deb/DEBIAN/control"
printf 'Installed-Size: %s\n' "$size" >>"$deb/DEBIAN/control"
install -m 0644 "$here/debian/conffiles" "$deb/DEBIAN/conffiles"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$deb/DEBIAN/"
dpkg-deb --root-owner-group -Zgzip --build "$deb" "$out/parkmesh_${version}_$arch.deb" >/dev/null

rm -rf "$stage"
echo "$out/$name.tar.gz"
echo "$out/parkmesh_${version}_$arch.deb"
