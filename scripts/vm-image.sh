#!/usr/bin/env bash
# Builds Ferry's tiny test VM from Debian packages only: Debian's kernel (linux-image-amd64, which
# also brings the virtio-net and geneve modules), a busybox initramfs with those modules, the init of
# lab/vm/init, the traffic tool of lab/vm/ferry-traffic.c (compiled static) and Debian's iperf3 with
# the libraries it links (libiperf0, libsctp1, libssl3's libcrypto, libc6). Output, in the cache
# directory (default ${FERRY_CACHE:-~/.cache/ferry}/vm): vmlinuz and initramfs.cpio.gz. Rebuilt only
# when a package version or one of those files changed. Needs apt-get, dpkg-deb, cpio, gzip and gcc.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-${FERRY_CACHE:-$HOME/.cache/ferry}/vm}"
for t in apt-get apt-cache dpkg-deb cpio gzip gcc sha256sum; do
  command -v "$t" >/dev/null || { echo "vm-image: $t is missing (scripts/install-deps.sh installs what is needed)" >&2; exit 2; }
done
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG="$(kernel_package)"
if [[ -z "$KPKG" && $(id -u) -eq 0 ]]; then apt-get update -qq >/dev/null 2>&1 || true; KPKG="$(kernel_package)"; fi
[[ -n "$KPKG" ]] || { echo "vm-image: apt knows no linux-image-amd64 (run apt-get update as root)" >&2; exit 2; }
KVER="$(apt-cache policy "$KPKG" | awk '/Candidate:/{print $2}')"
BVER="$(apt-cache policy busybox-static | awk '/Candidate:/{print $2}')"
# iperf3 runs dynamically linked, with the loader and libraries of the same Debian release.
IPERF_PKGS="iperf3 libiperf0 libsctp1 libssl3 libc6"
IVER="$(for p in $IPERF_PKGS; do apt-cache policy "$p" | awk -v p="$p" '/Candidate:/{printf "%s=%s ", p, $2}'; done)"
STAMP="$KPKG $KVER busybox-static $BVER $IVER$(cat "$ROOT/lab/vm/init" "$ROOT/lab/vm/ferry-traffic.c" "$0" | sha256sum | cut -c1-16)"
mkdir -p "$OUT"
if [[ -f "$OUT/stamp" && "$(cat "$OUT/stamp")" == "$STAMP" && -f "$OUT/vmlinuz" && -f "$OUT/initramfs.cpio.gz" ]]; then
  echo "$OUT"
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "vm-image: building from $KPKG $KVER and busybox-static $BVER into $OUT" >&2
# apt's sandbox user cannot write to a root-only temp dir; the download is of public packages.
chmod 755 "$WORK"
(cd "$WORK" && apt-get download -q "$KPKG" busybox-static $IPERF_PKGS >/dev/null 2>&1) \
  || { echo "vm-image: apt-get download $KPKG busybox-static $IPERF_PKGS failed" >&2; exit 2; }
dpkg-deb -x "$WORK"/linux-image-*.deb "$WORK/k"
dpkg-deb -x "$WORK"/busybox-static_*.deb "$WORK/bb"
for p in $IPERF_PKGS; do dpkg-deb -x "$WORK/${p}"_*.deb "$WORK/ip"; done
MODDIR="$(echo "$WORK"/k/lib/modules/*)/kernel"
R="$WORK/root"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,lib/modules,etc}
cp "$WORK/bb/bin/busybox" "$R/bin/busybox"
for m in drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_modern_dev \
         drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover \
         drivers/net/virtio_net net/ipv4/udp_tunnel net/ipv6/ip6_udp_tunnel drivers/net/geneve; do
  f="$MODDIR/$m.ko"
  [[ -f "$f" ]] || f="$(ls "$MODDIR/$m".ko* 2>/dev/null | head -1)"
  [[ -f "$f" ]] || { echo "vm-image: module $m not in $KPKG" >&2; exit 2; }
  case "$f" in
    *.xz) xz -dc "$f" > "$R/lib/modules/$(basename "$m").ko" ;;
    *.zst) zstd -dc "$f" > "$R/lib/modules/$(basename "$m").ko" ;;
    *) cp "$f" "$R/lib/modules/$(basename "$m").ko" ;;
  esac
done
install -m 755 "$ROOT/lab/vm/init" "$R/init"
mkdir -p "$R/lib/x86_64-linux-gnu" "$R/lib64"
install -m 755 "$WORK/ip/usr/bin/iperf3" "$R/bin/iperf3"
for l in libiperf.so.0 libsctp.so.1 libcrypto.so.3 libc.so.6 libm.so.6; do
  f="$(find "$WORK/ip" -name "$l" | head -1)"
  [[ -n "$f" ]] || { echo "vm-image: $l not in $IPERF_PKGS" >&2; exit 2; }
  cp -L "$f" "$R/lib/x86_64-linux-gnu/$l"
done
cp -L "$(find "$WORK/ip" -name ld-linux-x86-64.so.2 | head -1)" "$R/lib64/ld-linux-x86-64.so.2"
gcc -static -O2 -Wall -o "$R/bin/ferry-traffic" "$ROOT/lab/vm/ferry-traffic.c"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -9) > "$WORK/initramfs.cpio.gz"
cp "$WORK"/k/boot/vmlinuz-* "$OUT/vmlinuz"
mv "$WORK/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
echo "$STAMP" > "$OUT/stamp"
echo "$OUT"
