package dev.ferry.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** The lab's scratch directories (sockets, QEMU's files, etcd's data): removed at the end of a run. */
public final class ScratchDir {
    private ScratchDir() {}

    /** Removes {@code dir} and everything below it; a file its owner removed meanwhile is no error. */
    public static void remove(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        } catch (IOException ignored) {
            // a socket QEMU removed meanwhile, or the directory already gone
        }
    }
}
