package dev.ferry.security;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Directories only their owner may enter (0700), for what only one user's processes may reach: this
 * machine's CA and certificates, the agents' admin sockets.
 */
public final class OwnerOnly {
    private OwnerOnly() {}

    /**
     * Makes {@code dir} 0700 if it is not there (its parents as the umask says); one made a moment ago
     * by another process of this machine is taken as it is.
     */
    public static void directory(Path dir) throws IOException {
        if (Files.isDirectory(dir)) return;
        Files.createDirectories(dir.getParent());
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException raced) {
            // another member of this machine made it a moment ago
        }
    }
}
