package dev.ferry.cli;

import dev.ferry.rpc.Tls;
import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Where a command's certificates come from. With {@code --tls-dir}, that directory, as {@code ferry
 * pki} filled it. Without, the machine's own cluster (README: a cluster on one machine): a directory
 * per user ({@code $FERRY_TLS_DIR}, else {@code ~/.local/state/ferry/pki}) where the board makes a
 * CA the first time it starts, and where every member that can read that CA's key issues itself a
 * certificate naming who it is. A member on another machine has no CA key there and is told to be
 * given a certificate. Creation is under a file lock: a board and its agents may start at once.
 */
final class LocalTls {
    private LocalTls() {}

    /** The per-user directory of the automatic, one-machine cluster CA. */
    static Path defaultDir() {
        String env = System.getenv("FERRY_TLS_DIR");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".local", "state", "ferry", "pki");
    }

    /**
     * The certificates of {@code who}, named {@code name}: from {@code explicitDir} as given, or from
     * the automatic directory, issued there if need be ({@code makeCa}: the board makes the CA when
     * there is none).
     */
    static Tls resolve(Path explicitDir, String name, Identity who, boolean makeCa) throws IOException {
        return resolve(defaultDir(), explicitDir, name, who, makeCa);
    }

    /** As above, with {@code automaticDir} as this machine's directory. */
    static Tls resolve(Path automaticDir, Path explicitDir, String name, Identity who, boolean makeCa) throws IOException {
        Path dir = explicitDir != null ? explicitDir : automaticDir;
        if (issued(dir, name)) return Tls.inDir(dir, name);
        if (explicitDir != null) {
            throw new IOException("no " + name + ".crt and " + name + ".key in " + dir + ": issue them with ferry pki issue --dir CA_DIR "
                    + flagOf(who) + " --out " + dir + " (and copy ca.crt there)");
        }
        dev.ferry.security.OwnerOnly.directory(dir);
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = lockFile.lock()) {
            if (issued(dir, name)) return Tls.inDir(dir, name);
            if (!Files.exists(dir.resolve(ClusterCa.CA_CERT))) {
                if (!makeCa) {
                    throw new IOException("no cluster CA in " + dir + " yet: start the board on this machine first (it makes one), give"
                            + " --tls-dir with certificates from ferry pki, or run with --insecure");
                }
                ClusterCa.init(dir, "local", ClusterCa.CA_VALIDITY);
            }
            if (!Files.isReadable(dir.resolve(ClusterCa.CA_KEY))) {
                throw new IOException("this machine's cluster CA in " + dir + " has no readable " + ClusterCa.CA_KEY
                        + " to issue " + name + " a certificate: give --tls-dir with one from ferry pki");
            }
            ClusterCa.load(dir).issue(who, name, List.of("localhost", "127.0.0.1"), ClusterCa.ISSUED_VALIDITY).write(dir, name);
        }
        return Tls.inDir(dir, name);
    }

    private static boolean issued(Path dir, String name) {
        return Files.isReadable(dir.resolve(ClusterCa.CA_CERT)) && Files.isReadable(dir.resolve(name + ".crt"))
                && Files.isReadable(dir.resolve(name + ".key"));
    }

    private static String flagOf(Identity who) {
        return switch (who) {
            case Identity.Host h -> "--host-id " + h.hostId();
            case Identity.Board b -> "--board";
            case Identity.Operator o -> "--operator";
        };
    }
}
