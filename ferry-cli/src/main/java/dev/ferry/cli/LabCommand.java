package dev.ferry.cli;

import dev.ferry.lab.qemu.QemuLab;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ferry lab}: experiments with real VMs. */
@Command(name = "lab", mixinStandardHelpOptions = true, description = "Experiments with real VMs.",
        subcommands = {LabCommand.Qemu.class, LabCommand.Libvirt.class})
final class LabCommand {

    @Command(name = "qemu", mixinStandardHelpOptions = true,
            description = {"A board, three agents and two real QEMU VMs (the test VM of scripts/vm-image.sh) streaming",
                    "sequenced UDP while QEMU live-migrates the receiver (then the sender) round robin between the",
                    "agents; prints what every migration cost: frames lost, duplicated, reordered, the longest gap,",
                    "QEMU's downtime. With --baseline bridge, the same on a Linux bridge of TAP devices instead."})
    static final class Qemu implements Callable<Integer> {
        @Option(names = "--migrations", defaultValue = "4", description = "Migrations of the receiver (default: ${DEFAULT-VALUE}).")
        int migrations;

        @Option(names = "--move-sender", defaultValue = "0", paramLabel = "N",
                description = "Then N migrations of the sender (default: ${DEFAULT-VALUE}).")
        int senderMigrations;

        @Option(names = "--baseline", paramLabel = "bridge",
                description = "Run the VMs on a Linux bridge of TAP devices in a namespace of the lab's own, not on Ferry (needs root).")
        String baseline;

        @Option(names = "--rate", defaultValue = "1000", description = "Frames per second from sender to receiver (default: ${DEFAULT-VALUE}).")
        int rate;

        @Option(names = "--mode", defaultValue = "ferry", description = "The agents' mode: ferry, naive or eager (default: ${DEFAULT-VALUE}).")
        String mode;

        @Option(names = "--abort", description = "Then one more migration, cancelled halfway (migrate_cancel).")
        boolean abort;

        @Option(names = "--port", defaultValue = "vhost-user", paramLabel = "TYPE",
                description = "The agents' ports for the VMs: vhost-user (the agent serves the VM's virtio rings) or qemu-socket"
                        + " (QEMU's -netdev dgram) (default: ${DEFAULT-VALUE}).")
        String port;

        @Option(names = "--shared-memory",
                description = "With --baseline bridge: the VMs' RAM in a shared memfd, as Ferry's vhost-user ports need it (QEMU's"
                        + " downtime grows with that backend: the like-for-like baseline).")
        boolean sharedMemory;

        @Option(names = "--check-memory",
                description = "After each completed migration, hold the new copy paused and compare the VM's memory on both copies"
                        + " page by page (QEMU's pmemsave): a page that differs is a write the migration lost. The hold adds to the gap.")
        boolean checkMemory;

        @Option(names = "--report", defaultValue = "ferry-lab-report", paramLabel = "DIR",
                description = "Where to write the timeline report: index.html (the table) and migration-N.svg, a picture of each"
                        + " migration: both agents' steps, QEMU's downtime, the frames reaching the receiver, the gap (default: ${DEFAULT-VALUE}).")
        java.nio.file.Path report;

        @Override
        public Integer call() throws Exception {
            if (migrations < 0 || migrations > 50 || senderMigrations < 0 || senderMigrations > 50 || migrations + senderMigrations < 1
                    || rate < 1 || rate > 20_000) {
                System.err.println("ferry lab qemu: --migrations 0..50, --move-sender 0..50 (one migration at least), --rate 1..20000");
                return 2;
            }
            if (baseline != null && !baseline.equals("bridge")) {
                System.err.println("ferry lab qemu: --baseline: only 'bridge' is known, not '" + baseline + "'");
                return 2;
            }
            if (!port.equals("vhost-user") && !port.equals("qemu-socket")) {
                System.err.println("ferry lab qemu: --port: vhost-user or qemu-socket, not '" + port + "'");
                return 2;
            }
            if (sharedMemory && baseline == null) {
                System.err.println("ferry lab qemu: --shared-memory is for --baseline bridge (Ferry's vhost-user VMs always have it)");
                return 2;
            }
            QemuLab.Network network = baseline != null ? (sharedMemory ? QemuLab.Network.BRIDGE_SHARED_MEMORY : QemuLab.Network.BRIDGE)
                    : port.equals("vhost-user") ? QemuLab.Network.FERRY : QemuLab.Network.FERRY_QEMU_SOCKET;
            QemuLab.Options options = new QemuLab.Options(network, migrations, senderMigrations, rate,
                    baseline != null ? "none" : mode, abort).reportingTo(report);
            if (checkMemory) options = options.checkingMemory();
            QemuLab lab = new QemuLab(options, System.out);
            // Ctrl-C ends what the lab started: its QEMU processes (by their process ids), agents and board.
            Thread cleanup = new Thread(lab::close, "lab-cleanup");
            Runtime.getRuntime().addShutdownHook(cleanup);
            try {
                lab.printHeader();
                QemuLab.Result r = lab.run();
                java.nio.file.Path html = lab.writeReport();
                if (html != null) System.out.printf("%ntimeline report: %s%n", html.toAbsolutePath());
                System.out.printf("%nreceiver: %,d sent, %,d received, %,d lost (%s refused inside the VM: its socket or its UDP memory full), %,d duplicated,"
                                + " %,d reordered: %s%n", r.sent(), r.received(), r.lost(), r.droppedInVm() < 0 ? "?" : String.format("%,d", r.droppedInVm()),
                        r.duplicated(), r.reordered(), r.lossless() ? "lossless" : "NOT lossless");
                if (r.lost() > 0) {
                    r.loss().lines().forEach(System.out::println);
                    if (r.loss().load() > 0) {
                        System.out.printf("  %,d of them because this machine or a VM could not keep up, not by the protocol%n", r.loss().load());
                    }
                }
                long torn = r.rows().stream().filter(row -> row.memory() != null && !row.memory().whole()).count();
                if (torn > 0) {
                    System.out.printf("FAIL: in %d migration(s) the VM's memory on the new copy differs from the old one's%n", torn);
                    return 1;
                }
                if (baseline == null && r.loss().unexplained() > 0) {
                    System.out.printf("FAIL: %,d lost frames no counter accounts for%n", r.loss().unexplained());
                    return 1;
                }
                return r.lossless() || baseline != null || !mode.equals("ferry") ? 0 : 1;
            } finally {
                lab.close();
                Runtime.getRuntime().removeShutdownHook(cleanup);
            }
        }
    }

    @Command(name = "libvirt", mixinStandardHelpOptions = true,
            description = {"Two libvirt daemons on this machine as two hosts (each in a mount namespace of its own, needs root and",
                    "Debian's libvirt-daemon-system), a sender and a receiver VM defined as libvirt domains on Ferry's vhost-user",
                    "ports, sequenced UDP between them while virsh migrate --live --p2p moves the receiver back and forth (then",
                    "the sender), and with --abort one migration aborted by virsh domjobabort. libvirt's hook plugs the ports,",
                    "the agents' libvirt detectors follow the migrations. With --baseline bridge, the same VMs on a Linux bridge."})
    static final class Libvirt implements Callable<Integer> {
        @Option(names = "--migrations", defaultValue = "4", description = "Migrations of the receiver (default: ${DEFAULT-VALUE}).")
        int migrations;

        @Option(names = "--move-sender", defaultValue = "0", paramLabel = "N", description = "Then N migrations of the sender (default: ${DEFAULT-VALUE}).")
        int senderMigrations;

        @Option(names = "--abort", description = "Then one more migration of the receiver, aborted halfway (virsh domjobabort).")
        boolean abort;

        @Option(names = "--rate", defaultValue = "1000", description = "Frames per second from sender to receiver (default: ${DEFAULT-VALUE}).")
        int rate;

        @Option(names = "--baseline", paramLabel = "bridge", description = "The VMs on a Linux bridge of libvirt's TAP devices, not on Ferry.")
        String baseline;

        @Option(names = "--restart-libvirtd", paramLabel = "N",
                description = "Restart both libvirt daemons before migration N (the domains run on; the agents connect again).")
        int restartBefore;

        @Override
        public Integer call() throws Exception {
            if (migrations < 0 || migrations > 50 || senderMigrations < 0 || senderMigrations > 50
                    || migrations + senderMigrations + (abort ? 1 : 0) < 1 || rate < 1 || rate > 20_000) {
                System.err.println("ferry lab libvirt: --migrations 0..50, --move-sender 0..50 (one migration at least), --rate 1..20000");
                return 2;
            }
            if (baseline != null && !baseline.equals("bridge")) {
                System.err.println("ferry lab libvirt: --baseline takes bridge");
                return 2;
            }
            var network = baseline == null ? dev.ferry.lab.libvirt.LibvirtLab.Network.FERRY : dev.ferry.lab.libvirt.LibvirtLab.Network.BRIDGE;
            var options = new dev.ferry.lab.libvirt.LibvirtLab.Options(network, migrations, senderMigrations, rate, abort, restartBefore);
            try (var lab = new dev.ferry.lab.libvirt.LibvirtLab(options, System.out, thisCommand())) {
                QemuLab.Result r = lab.run();
                System.out.printf("sent %,d, received %,d: %,d lost, %,d duplicated, %,d reordered%s%n", r.sent(), r.received(), r.lost(),
                        r.duplicated(), r.reordered(), r.droppedInVm() > 0 ? " (" + r.droppedInVm() + " refused by the receiver VM's own kernel)" : "");
                return r.lossless() ? 0 : 1;
            }
        }
    }

    /** This very ferry command, as a java command line: for the lab's own board, agents and libvirt hook (C1 only: they start often). */
    static java.util.List<String> thisCommand() {
        return dev.ferry.lab.FerryCommand.lean("256m", "-XX:TieredStopAtLevel=1");
    }
}
