package dev.ferry.lab.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The lab's flat scratch directories (QMP and vhost-user sockets, QEMU's files): removed at the end of a run. */
final class ScratchDir {
    private ScratchDir() {}

    /** Removes {@code dir} and the files in it; a file QEMU removed meanwhile is no error. */
    static void remove(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a socket QEMU removed meanwhile, or the directory already gone
        }
    }
}
