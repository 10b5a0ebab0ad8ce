#!/usr/bin/env bash
# Builds Ferry's Debian package, for hosts without Maven or a JDK: target/package/ferry_VERSION_amd64.deb
# holds the ferry jar with a Java runtime made for it (jlink), /usr/bin/ferry, the systemd units
# ferry-board.service and ferry-agent.service, their configuration under /etc/ferry and /etc/default,
# libvirt's hook, bash completion and man pages. Builds the jar first when it is missing.
#   scripts/package.sh            the package; its path is the last line printed
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$ROOT/scripts/find-jdk.sh")"
export JAVA_HOME
JAR="$ROOT/ferry-cli/target/ferry.jar"
PKG="$ROOT/packaging"
for tool in dpkg-deb gzip; do
  command -v "$tool" >/dev/null || { echo "package: $tool is needed (Debian's dpkg and gzip)" >&2; exit 2; }
done
if [[ ! -f "$JAR" ]]; then
  echo "package: building the jar" >&2
  (cd "$ROOT" && mvn -q -B -DskipTests install)
fi

# 0.1.0-SNAPSHOT -> 0.1.0~snapshot: sorts before the release 0.1.0, as Debian's versions want.
version="$("$JAVA_HOME/bin/java" -jar "$JAR" --version 2>/dev/null | head -n 1 | awk '{print $2}')"
debversion="$(echo "$version" | sed 's/-SNAPSHOT$/~snapshot/')"
if [[ "$version" == *-SNAPSHOT ]] && git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
  debversion="$debversion+git$(git -C "$ROOT" log -1 --format=%cd --date=format:%Y%m%d).$(git -C "$ROOT" rev-parse --short HEAD)"
fi
OUT="$ROOT/target/package"
STAGE="$OUT/ferry_${debversion}_amd64"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/usr/lib/ferry" "$STAGE/lib/systemd/system" "$STAGE/usr/lib/sysusers.d" \
  "$STAGE/usr/lib/tmpfiles.d" "$STAGE/etc/ferry" "$STAGE/etc/default" "$STAGE/etc/libvirt/hooks/qemu.d" \
  "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/man/man1" "$STAGE/usr/share/doc/ferry/examples"

# The runtime: the modules the jar uses (jdeps) and those it reaches by name or service (DNS for
# gRPC's resolver, XML for libvirt's domains, management for metrics).
echo "package: making the Java runtime (jlink)" >&2
modules="$("$JAVA_HOME/bin/jdeps" --multi-release 25 --ignore-missing-deps --print-module-deps "$JAR" 2>/dev/null | tail -n 1)"
modules="$modules,java.xml,jdk.naming.dns,jdk.management,jdk.crypto.cryptoki,jdk.zipfs"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-6 \
  --output "$STAGE/usr/lib/ferry/runtime"
cp "$JAR" "$STAGE/usr/lib/ferry/ferry.jar"
sed "s|@JVM_OPTIONS@|$(cat "$PKG/jvm.options")|" "$PKG/ferry.sh" > "$STAGE/usr/bin/ferry"
chmod 0755 "$STAGE/usr/bin/ferry"
FERRY="$STAGE/usr/bin/ferry"

install -m 0644 "$PKG/systemd/ferry-board.service" "$PKG/systemd/ferry-agent.service" "$STAGE/lib/systemd/system/"
install -m 0644 "$PKG/etc/sysusers.conf" "$STAGE/usr/lib/sysusers.d/ferry.conf"
install -m 0644 "$PKG/etc/tmpfiles.conf" "$STAGE/usr/lib/tmpfiles.d/ferry.conf"
install -m 0644 "$PKG/etc/agent.yaml" "$STAGE/etc/ferry/agent.yaml"
install -m 0644 "$PKG/etc/ferry-board.default" "$STAGE/etc/default/ferry-board"
install -m 0644 "$PKG/etc/ferry-agent.default" "$STAGE/etc/default/ferry-agent"
install -m 0755 "$PKG/libvirt/qemu-hook" "$STAGE/etc/libvirt/hooks/qemu.d/ferry"
install -m 0644 "$PKG/libvirt/web1.xml" "$STAGE/usr/share/doc/ferry/examples/web1.xml"
install -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/ferry/README.md"
install -m 0644 "$ROOT/docs/design.md" "$STAGE/usr/share/doc/ferry/design.md"
"$FERRY" generate-completion > "$STAGE/usr/share/bash-completion/completions/ferry"

# Man pages from each command's --help (help2man), so `man ferry-agent` says what `ferry agent --help` does.
if command -v help2man >/dev/null; then
  bin="$(mktemp -d)"
  trap 'rm -rf "$bin"' EXIT
  for cmd in "" board agent ctl libvirt pki; do
    name="ferry${cmd:+-$cmd}"
    printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$FERRY" "$cmd" > "$bin/$name"
    chmod +x "$bin/$name"
    summary="$("$FERRY" $cmd --help 2>/dev/null | awk 'NR > 1 && !/^ / { print; exit }')"
    [[ -z "$cmd" ]] && summary="overlay virtual network with lossless live migration of VMs"
    help2man --no-info --version-string="$version" --name="${summary:-ferry $cmd}" --section=1 "$bin/$name" \
      | gzip -9n > "$STAGE/usr/share/man/man1/$name.1.gz"
  done
else
  echo "package: help2man not found: no man pages (scripts/install-deps.sh installs it)" >&2
fi

cat > "$STAGE/DEBIAN/control" <<EOF
Package: ferry
Version: $debversion
Architecture: amd64
Maintainer: Ferry developers <ferry@localhost>
Section: net
Priority: optional
Depends: libc6 (>= 2.36), curl
Recommends: qemu-system-x86
Suggests: libvirt-daemon-system
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Homepage: file:///usr/share/doc/ferry/README.md
Description: overlay virtual network with lossless live migration of VMs
 Ferry tunnels VMs' Ethernet frames between hosts in Geneve over UDP and
 hands a VM's traffic over across a live migration without losing,
 duplicating or reordering a frame. The board keeps which VM is on which
 host; an agent on every host serves its VMs' vhost-user, TAP or QEMU
 socket ports. Ships its own Java runtime.
EOF
printf '%s\n' /etc/ferry/agent.yaml /etc/default/ferry-board /etc/default/ferry-agent /etc/libvirt/hooks/qemu.d/ferry \
  > "$STAGE/DEBIAN/conffiles"
install -m 0755 "$PKG/deb/postinst" "$PKG/deb/prerm" "$PKG/deb/postrm" "$STAGE/DEBIAN/"

dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT/ferry_${debversion}_amd64.deb" >/dev/null
rm -rf "$STAGE"
echo "$OUT/ferry_${debversion}_amd64.deb"
