package dev.ferry.lab.qemu;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Real VMs of the test image on vhost-user ports of Ferry's agents (a board and agents 1-3 in this
 * process), for a test to drive by their consoles; closing ends every QEMU it started, then Ferry.
 */
final class FerryVms implements AutoCloseable {
    final FerryNetwork network;
    private final VmImage image;
    private final Path dir;
    private final List<QemuVm> vms = new ArrayList<>();

    FerryVms() throws Exception {
        image = VmImage.ensure();
        dir = Files.createTempDirectory("ferry-vms");
        network = new FerryNetwork("ferry", FerryNetwork.PortType.VHOST_USER);
    }

    /** Boots VM {@code name} on agent {@code host}'s vhost-user port. */
    QemuVm start(String name, int host, long mac, String ip) throws Exception {
        return start(name, host, mac, ip, 0);
    }

    /** The same, QEMU giving the guest MTU {@code hostMtu} (0: its default). */
    QemuVm start(String name, int host, long mac, String ip, int hostMtu) throws Exception {
        QemuVm.VhostUser plain = (QemuVm.VhostUser) network.nic(name, host, mac);
        QemuVm.Nic nic = new QemuVm.VhostUser(mac, plain.socket(), hostMtu);
        QemuVm vm = QemuVm.start(image, name, ip + "/24", nic, dir, 0);
        vms.add(vm);
        network.plug(name, host, ip, nic, vm);
        vm.awaitQmp();
        return vm;
    }

    /** A destination copy of VM {@code name} on agent {@code host}'s vhost-user port, waiting for a migration on {@code port}. */
    QemuVm incoming(String name, int host, long mac, String ip, int port) throws Exception {
        QemuVm.Nic nic = network.nic(name, host, mac);
        QemuVm vm = QemuVm.start(image, name + "-on-" + host, ip + "/24", nic, dir, port);
        vms.add(vm);
        network.plug(name, host, ip, nic, vm);
        vm.awaitQmp();
        return vm;
    }

    /** Until every VM started says it is ready on its console. */
    void awaitReady() throws Exception {
        for (QemuVm vm : vms) vm.await(Pattern.compile("ferry-vm: ready"), 60_000);
    }

    List<QemuVm> all() {
        return List.copyOf(vms);
    }

    @Override
    public void close() {
        for (QemuVm vm : vms) vm.close();
        network.close();
        dev.ferry.lab.ScratchDir.remove(dir);
    }
}
