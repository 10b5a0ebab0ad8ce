package dev.ferry.cli;

import dev.ferry.bench.BoardBench;
import dev.ferry.bench.TapBench;
import dev.ferry.bench.UnderlayBench;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ferry bench}: benchmarks against running processes (the packet path's JMH suite is in ferry-bench). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks against running Ferry processes.",
        subcommands = {BenchCommand.Underlay.class, BenchCommand.Tap.class, BenchCommand.Vm.class, BenchCommand.Board.class})
final class BenchCommand {

    @Command(name = "underlay", mixinStandardHelpOptions = true,
            description = {"Frames per second a Ferry agent forwards on loopback (one core each, saturated),",
                    "beside the C relay anchor measured in the same run by its own script (needs root and gcc)."})
    static final class Underlay implements Callable<Integer> {
        @Option(names = "--sizes", split = ",", defaultValue = "64,1400", description = "Frame sizes in bytes (default: ${DEFAULT-VALUE}).")
        List<Integer> sizes;

        @Option(names = "--seconds", defaultValue = "4", description = "Measured seconds per figure (default: ${DEFAULT-VALUE}).")
        int seconds;

        @Option(names = "--warmup", defaultValue = "2", description = "Warm-up seconds before each figure (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--reps", defaultValue = "3", description = "Repetitions; medians are reported (default: ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--anchors", description = "The anchors directory with relay-loopback.sh (default: ../shared/anchors beside the repository, if there).")
        Path anchors;

        @Option(names = "--no-anchor", description = "Skip the C anchor (then no ratio is printed).")
        boolean noAnchor;

        @Option(names = "--transport", defaultValue = "auto", description = "The agents' underlay socket: auto, epoll or nio (default: ${DEFAULT-VALUE}).")
        String transport;

        @Option(names = "--underlay", split = ",", defaultValue = "sealed,plaintext",
                description = "The agents' underlay: sealed (as they run by default), plaintext (--plaintext-underlay), or both (default: ${DEFAULT-VALUE}).")
        List<String> underlays;

        @Override
        public Integer call() throws Exception {
            if (seconds < 1 || seconds > 60 || warmup < 0 || warmup > 30 || reps < 1 || reps > 20) {
                System.err.println("ferry bench underlay: --seconds 1..60, --warmup 0..30, --reps 1..20");
                return 2;
            }
            for (int s : sizes) {
                if (s < 64 || s > 9000) {
                    System.err.println("ferry bench underlay: --sizes: " + s + " is not in 64..9000");
                    return 2;
                }
            }
            for (String u : underlays) {
                if (!u.equals("sealed") && !u.equals("plaintext")) {
                    System.err.println("ferry bench underlay: --underlay: '" + u + "' is not sealed or plaintext");
                    return 2;
                }
            }
            Path dir = noAnchor ? null : anchors != null ? anchors : defaultAnchors();
            return new UnderlayBench(new UnderlayBench.Options(sizes, seconds, warmup, reps, dir, transport, List.copyOf(underlays)), System.out).run();
        }

        private static Path defaultAnchors() {
            String root = System.getenv("FERRY_ROOT");
            Path base = root != null ? Path.of(root) : Path.of("").toAbsolutePath();
            return base.resolveSibling("shared").resolve("anchors");
        }
    }

    @Command(name = "tap", mixinStandardHelpOptions = true,
            description = {"Ping RTT (at rest and at 5 ms spacing), TCP (iperf3) and idle CPU through two TAP ports: two Ferry",
                    "agents beside the anchors' C TAP<->Geneve forwarder, same namespaces, same probes, one run (root, ip, ping, iperf3, gcc)."})
    static final class Tap implements Callable<Integer> {
        @Option(names = "--reps", defaultValue = "3", description = "iperf3 runs per side; the median is reported (default: ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--seconds", defaultValue = "3", description = "Seconds per iperf3 run (default: ${DEFAULT-VALUE}).")
        int seconds;

        @Option(names = "--pings", defaultValue = "25", description = "Pings at rest, one per 200 ms (default: ${DEFAULT-VALUE}).")
        int pings;

        @Option(names = "--anchors", description = "The anchors directory with src/tap_geneve_fwd.c (default: ../shared/anchors beside the repository, if there).")
        Path anchors;

        @Option(names = "--no-anchor", description = "Skip the C anchor (then no ratio is printed).")
        boolean noAnchor;

        @Option(names = "--underlay", defaultValue = "sealed", description = "The agents' underlay: sealed or plaintext (default: ${DEFAULT-VALUE}).")
        String underlay;

        @Override
        public Integer call() throws Exception {
            if (reps < 1 || reps > 20 || seconds < 1 || seconds > 60 || pings < 3 || pings > 1000) {
                System.err.println("ferry bench tap: --reps 1..20, --seconds 1..60, --pings 3..1000");
                return 2;
            }
            if (!underlay.equals("sealed") && !underlay.equals("plaintext")) {
                System.err.println("ferry bench tap: --underlay: '" + underlay + "' is not sealed or plaintext");
                return 2;
            }
            Path dir = noAnchor ? null : anchors != null ? anchors : Underlay.defaultAnchors();
            return new TapBench(new TapBench.Options(reps, seconds, pings, dir, underlay), System.out).run();
        }
    }

    @Command(name = "vm", mixinStandardHelpOptions = true,
            description = {"TCP (iperf3) between two real QEMU VMs: on a Linux bridge (the anchor), then on Ferry's vhost-user",
                    "ports with offloads on and off, the same VMs, one run (root, ip, qemu-system-x86). Before TCP, at rest:",
                    "a lone ping between the VMs, and the agents' CPU while nothing crosses them."})
    static final class Vm implements Callable<Integer> {
        @Option(names = "--reps", defaultValue = "3", description = "iperf3 runs per network; the median is reported (default: ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--seconds", defaultValue = "5", description = "Seconds per iperf3 run (default: ${DEFAULT-VALUE}).")
        int seconds;

        @Option(names = "--networks", split = ",", defaultValue = "bridge,ferry,ferry-no-offload",
                description = "Which networks, in order: bridge, ferry (vhost-user, offloads on), ferry-no-offload (default: ${DEFAULT-VALUE}).")
        List<String> networks;

        @Override
        public Integer call() throws Exception {
            if (reps < 1 || reps > 20 || seconds < 1 || seconds > 60) {
                System.err.println("ferry bench vm: --reps 1..20, --seconds 1..60");
                return 2;
            }
            List<dev.ferry.lab.qemu.VmThroughput.Network> chosen = new java.util.ArrayList<>();
            for (String n : networks) {
                dev.ferry.lab.qemu.VmThroughput.Network network = dev.ferry.lab.qemu.VmThroughput.Network.named(n);
                if (network == null) {
                    System.err.println("ferry bench vm: --networks: '" + n + "' is not bridge, ferry or ferry-no-offload");
                    return 2;
                }
                chosen.add(network);
            }
            return new dev.ferry.bench.VmBench(new dev.ferry.bench.VmBench.Options(reps, seconds, chosen), System.out).run();
        }
    }

    @Command(name = "board", mixinStandardHelpOptions = true,
            description = {"A board on loopback, once per store, and simulated agents over gRPC: attaches and lookups per second,",
                    "the lock+unlock round trip, and the time from an unlock to the last of N watching agents holding the new",
                    "location. The first store is the anchor the others are given as ratios of."})
    static final class Board implements Callable<Integer> {
        @Option(names = "--stores", split = ",", defaultValue = "memory,sqlite,etcd",
                description = "Stores to measure: memory, sqlite, etcd (three etcd-server members on loopback) (default: ${DEFAULT-VALUE}).")
        List<String> stores;

        @Option(names = "--records", defaultValue = "100000", description = "VMs in the table (default: ${DEFAULT-VALUE}).")
        int records;

        @Option(names = "--watchers", split = ",", defaultValue = "10,100,1000",
                description = "Watching agents, each count measured in turn (default: ${DEFAULT-VALUE}).")
        List<Integer> watchers;

        @Option(names = "--seconds", defaultValue = "5", description = "Seconds of lookups (default: ${DEFAULT-VALUE}).")
        int seconds;

        @Option(names = "--round-trips", defaultValue = "1000", description = "Lock+unlock round trips (default: ${DEFAULT-VALUE}).")
        int roundTrips;

        @Option(names = "--migrations", defaultValue = "20", description = "Unlocks per watcher count (default: ${DEFAULT-VALUE}).")
        int migrations;

        @Override
        public Integer call() throws Exception {
            for (String s : stores) {
                if (!List.of("memory", "sqlite", "etcd").contains(s)) {
                    System.err.println("ferry bench board: --stores: '" + s + "' is not memory, sqlite or etcd");
                    return 2;
                }
            }
            if (records < 2 || records > 1_000_000 || seconds < 1 || seconds > 60 || roundTrips < 1 || roundTrips > 100_000
                    || migrations < 1 || migrations > 1_000 || watchers.stream().anyMatch(n -> n < 1 || n > 2_000)) {
                System.err.println("ferry bench board: --records 2..1000000, --seconds 1..60, --round-trips 1..100000, --migrations 1..1000,"
                        + " --watchers 1..2000 each");
                return 2;
            }
            return new BoardBench(new BoardBench.Options(stores, records, watchers, seconds, roundTrips, migrations), System.out).run();
        }
    }
}
