package dev.ferry.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ferry bench}: benchmarks against running processes (the packet path's JMH suite is in ferry-bench). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks against running Ferry processes.",
        subcommands = BenchCommand.Underlay.class)
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
            Path dir = noAnchor ? null : anchors != null ? anchors : defaultAnchors();
            return new UnderlayBench(new UnderlayBench.Options(sizes, seconds, warmup, reps, dir, transport), System.out).run();
        }

        private static Path defaultAnchors() {
            String root = System.getenv("FERRY_ROOT");
            Path base = root != null ? Path.of(root) : Path.of("").toAbsolutePath();
            return base.resolveSibling("shared").resolve("anchors");
        }
    }
}
