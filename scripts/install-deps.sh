#!/usr/bin/env bash
# Installs what Ferry's build and tests need on a Debian machine: Maven, tshark (the wire-format
# interoperability test decodes Ferry's packets with it), and iproute2, ping and iperf3 for the test that
# puts VMs in network namespaces behind TAP ports, QEMU, cpio and gcc for the tests with real VMs
# (scripts/vm-image.sh builds their image from Debian's packages), chromium to check the lab's timeline
# report renders, help2man for the package's man pages and systemd for `systemd-analyze verify` of its
# units, libvirt (its daemon, virsh and libvirt0) for the test that migrates libvirt domains, and curl
# for libvirt's hook (it posts the domain XML to the agent). JDK 25 is looked for, not installed: scripts/find-jdk.sh says where it looked when none is there.
set -euo pipefail
PKGS=(maven curl tshark iproute2 iputils-ping iperf3 qemu-system-x86 cpio gcc libc6-dev etcd-server chromium help2man systemd
      libvirt-daemon-system libvirt-clients)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
