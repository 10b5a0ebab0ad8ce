package dev.ferry.service;

import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * Where an HTTP endpoint of Ferry listens or is reached: a Unix socket, guarded by its file's
 * permissions (the admin endpoint's default), or a TCP address (the admin endpoint only with mutual
 * TLS; {@code /metrics} for Prometheus).
 */
public sealed interface HttpAddress {
    /** A Unix socket at {@code path}. */
    record Unix(Path path) implements HttpAddress {
        @Override
        public String toString() {
            return path.toString();
        }
    }

    /** A TCP address. */
    record Tcp(InetSocketAddress address) implements HttpAddress {
        @Override
        public String toString() {
            return dev.ferry.board.Endpoints.format(address);
        }
    }

    /** The longest path a Unix socket may have on Linux ({@code sun_path} less its terminating NUL). */
    int MAX_UNIX_PATH = 107;

    /**
     * A path (anything with a {@code /}) as a Unix socket, else {@code host:port}; a {@link
     * ConfigException} naming {@code field} otherwise.
     */
    static HttpAddress parse(String text, String field) {
        if (text == null || text.isBlank()) throw new ConfigException(field + ": empty (a socket path, or host:port)");
        if (text.contains("/")) {
            Path p = Path.of(text).toAbsolutePath();
            if (p.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_UNIX_PATH) {
                throw new ConfigException(field + ": " + p + " is longer than a Unix socket's " + MAX_UNIX_PATH + " bytes");
            }
            return new Unix(p);
        }
        return new Tcp(Addresses.socket(text, field));
    }

    /**
     * This machine's directory of Ferry's sockets when none is given: {@code $FERRY_RUN_DIR}, else
     * {@code ~/.local/state/ferry/run} (made 0700: only this user reaches what is in it).
     */
    static Path runDir() {
        String env = System.getenv("FERRY_RUN_DIR");
        if (env != null && !env.isBlank()) return Path.of(env).toAbsolutePath();
        return Path.of(System.getProperty("user.home"), ".local", "state", "ferry", "run");
    }

    /** Host {@code hostId}'s agent's admin socket when {@code admin} is not given. */
    static HttpAddress defaultAdmin(int hostId) {
        return new Unix(runDir().resolve("agent-" + hostId + ".sock"));
    }
}
