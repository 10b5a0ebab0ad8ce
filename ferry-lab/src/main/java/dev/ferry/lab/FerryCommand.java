package dev.ferry.lab;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The java command line that starts another Ferry process from this one: the labs' board, agents and
 * libvirt hook, the benchmarks' agents, the tests' clusters. This JVM, this classpath, and the JVM
 * options of the installed command ({@code packaging/jvm.options}, copied into this module when it is
 * built), so that what a benchmark measures runs as operators run it.
 */
public final class FerryCommand {
    /** The {@code ferry} command's main class. */
    public static final String MAIN = "dev.ferry.cli.FerryCli";
    /** What the installed jar's manifest grants and a launch by class path must ask for. */
    private static final List<String> BY_CLASS_PATH = List.of("--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
            "--enable-native-access=ALL-UNNAMED");
    private static final List<String> INSTALLED = read();

    private FerryCommand() {}

    /** The installed command's JVM options, as {@code packaging/jvm.options} lists them. */
    public static List<String> installedOptions() {
        return INSTALLED;
    }

    /** {@code ferry} as installed, its heap capped at {@code maxHeap} (such as "256m"): for what is measured. */
    public static List<String> asInstalled(String maxHeap) {
        return line(INSTALLED, maxHeap, List.of());
    }

    /**
     * {@code ferry} for the many short processes of labs and tests on a small machine: the installed
     * options with the serial collector in place of theirs (no collector threads to share the cores
     * with), the heap capped at {@code maxHeap}, then {@code extra} JVM options.
     */
    public static List<String> lean(String maxHeap, String... extra) {
        List<String> options = new ArrayList<>();
        for (String o : INSTALLED) if (!isCollector(o)) options.add(o);
        options.add("-XX:+UseSerialGC");
        return line(options, maxHeap, Arrays.asList(extra));
    }

    private static List<String> line(List<String> options, String maxHeap, List<String> extra) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(options);
        cmd.addAll(BY_CLASS_PATH);
        cmd.add("-Xmx" + maxHeap);
        cmd.addAll(extra);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), MAIN));
        return List.copyOf(cmd);
    }

    private static boolean isCollector(String option) {
        return option.matches("-XX:\\+Use\\w*GC");
    }

    private static List<String> read() {
        try (InputStream in = FerryCommand.class.getResourceAsStream("jvm.options")) {
            if (in == null) throw new IllegalStateException("jvm.options is missing from ferry-lab's classes (packaging/jvm.options)");
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
            return text.isEmpty() ? List.of() : List.of(text.split("\\s+"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
