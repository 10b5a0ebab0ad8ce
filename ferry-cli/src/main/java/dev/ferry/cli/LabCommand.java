package dev.ferry.cli;

import dev.ferry.lab.qemu.QemuLab;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ferry lab}: experiments with real VMs. */
@Command(name = "lab", mixinStandardHelpOptions = true, description = "Experiments with real VMs.",
        subcommands = LabCommand.Qemu.class)
final class LabCommand {

    @Command(name = "qemu", mixinStandardHelpOptions = true,
            description = {"A board, three agents and two real QEMU VMs (the test VM of scripts/vm-image.sh) streaming",
                    "sequenced UDP while QEMU live-migrates the receiver round robin between the agents; prints what",
                    "every migration cost: frames lost, duplicated, reordered, the longest gap, QEMU's downtime."})
    static final class Qemu implements Callable<Integer> {
        @Option(names = "--migrations", defaultValue = "4", description = "Migrations of the receiver (default: ${DEFAULT-VALUE}).")
        int migrations;

        @Option(names = "--rate", defaultValue = "1000", description = "Frames per second from sender to receiver (default: ${DEFAULT-VALUE}).")
        int rate;

        @Option(names = "--mode", defaultValue = "ferry", description = "The agents' mode: ferry, naive or eager (default: ${DEFAULT-VALUE}).")
        String mode;

        @Option(names = "--abort", description = "Then one more migration, cancelled halfway (migrate_cancel).")
        boolean abort;

        @Override
        public Integer call() throws Exception {
            if (migrations < 1 || migrations > 50 || rate < 1 || rate > 20_000) {
                System.err.println("ferry lab qemu: --migrations 1..50, --rate 1..20000");
                return 2;
            }
            QemuLab lab = new QemuLab(new QemuLab.Options(migrations, rate, mode, abort), System.out);
            // Ctrl-C ends what the lab started: its QEMU processes (by their process ids), agents and board.
            Thread cleanup = new Thread(lab::close, "lab-cleanup");
            Runtime.getRuntime().addShutdownHook(cleanup);
            try {
                lab.printHeader();
                QemuLab.Result r = lab.run();
                System.out.printf("%nreceiver: %,d sent, %,d received, %,d lost (%s inside the VM, its socket full), %,d duplicated,"
                                + " %,d reordered: %s%n", r.sent(), r.received(), r.lost(), r.droppedInVm() < 0 ? "?" : String.format("%,d", r.droppedInVm()),
                        r.duplicated(), r.reordered(), r.lossless() ? "lossless" : "NOT lossless");
                return r.lossless() || !mode.equals("ferry") ? 0 : 1;
            } finally {
                lab.close();
                Runtime.getRuntime().removeShutdownHook(cleanup);
            }
        }
    }
}
