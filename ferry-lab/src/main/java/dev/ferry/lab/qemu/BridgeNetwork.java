package dev.ferry.lab.qemu;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The baseline: what a cluster without Ferry does. One Linux bridge in a network namespace of the
 * lab's own, a TAP device per VM copy, the bridge learning where each MAC is from the frames it sees
 * (flood and learn) and re-taught after a migration by the announcements QEMU's destination sends.
 * All QEMU processes run in that namespace, so their migration streams stay on its loopback. Needs
 * CAP_NET_ADMIN (root), as the project's namespace tests do.
 */
final class BridgeNetwork implements LabNetwork {
    private final String netns = "ferry-lab-" + ProcessHandle.current().pid();
    private final List<String> taps = new ArrayList<>();
    private final boolean sharedMemory;
    private boolean created;

    /** With {@code sharedMemory}, the VMs' RAM is a shared memfd, as Ferry's vhost-user ports need it. */
    BridgeNetwork(boolean sharedMemory) throws IOException {
        this.sharedMemory = sharedMemory;
        IpCommand.ip("netns", "add", netns);
        created = true;
        IpCommand.ip("-n", netns, "link", "set", "lo", "up");
        IpCommand.ip("-n", netns, "link", "add", "br0", "type", "bridge", "stp_state", "0");
        IpCommand.ip("-n", netns, "link", "set", "br0", "up");
    }

    /** The namespace QEMU and its migration stream run in. */
    String netns() {
        return netns;
    }

    @Override
    public QemuVm.Nic nic(String name, int host, long mac) throws IOException {
        // A new TAP for every copy: QEMU's source and destination hold theirs at once.
        String tap = name + host + "-" + taps.size();
        IpCommand.ip("-n", netns, "tuntap", "add", "dev", tap, "mode", "tap");
        IpCommand.ip("-n", netns, "link", "set", tap, "master", "br0", "up");
        taps.add(tap);
        return new QemuVm.Tap(mac, netns, tap, sharedMemory);
    }

    @Override
    public void plug(String name, int host, String ip, QemuVm.Nic nic, QemuVm vm) {
        // Nothing to tell a bridge: it learns from the frames.
    }

    @Override
    public List<String> report() {
        return List.of("bridge br0 in namespace " + netns + ", " + taps.size() + " TAP devices used");
    }

    @Override
    public String toString() {
        return "a Linux bridge of TAP devices in namespace " + netns + (sharedMemory ? ", the VMs' RAM a shared memfd" : "");
    }

    @Override
    public dev.ferry.lab.LossAccount account(long lost, long inVm) {
        // The bridge counts nothing of its own: what the VMs did not drop is unexplained by design.
        return new dev.ferry.lab.LossAccount(lost, java.util.Map.of(), 0, 0, 0, inVm);
    }

    @Override
    public void close() {
        if (!created) return;
        created = false;
        try {
            IpCommand.ip("netns", "del", netns); // takes the bridge and its TAP devices with it
        } catch (IOException e) {
            System.err.println("  could not delete namespace " + netns + ": " + e.getMessage());
        }
    }

}
