package dev.ferry.rpc;

import dev.ferry.security.Identity;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A member's mutual TLS material, as {@code ferry pki} writes it: the cluster CA's certificate, and
 * the member's certificate and key. Both ends present a certificate and accept only the cluster's;
 * TLS 1.3 only.
 *
 * <p>The files are read again when they change, looked at every {@link #RELOAD} (into gRPC's
 * {@code AdvancedTls} managers, shared by every connection of the process that uses the same files):
 * a certificate renewed or a CA rolled in place is used by the next handshake, without a restart. Connections already open keep the
 * certificate they were made with.
 *
 * @param ca   the cluster CA's certificate ({@code ca.crt}); it may hold several, during a CA roll
 * @param cert this member's certificate
 * @param key  its private key (PKCS#8 PEM)
 */
public record Tls(Path ca, Path cert, Path key) {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Tls.class);
    private static final String[] PROTOCOLS = {"TLSv1.3"};
    /** How often the files are looked at again (only their modification times, unless they changed). */
    public static final Duration RELOAD = Duration.ofSeconds(5);

    private static final ScheduledExecutorService RELOADER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "tls-reload");
        t.setDaemon(true);
        return t;
    });
    private static final Map<Tls, Loaded> LOADED = new ConcurrentHashMap<>();

    /** {@code dir/ca.crt}, {@code dir/NAME.crt}, {@code dir/NAME.key}; an IOException names a missing one. */
    public static Tls inDir(Path dir, String name) throws IOException {
        Tls t = new Tls(dir.resolve("ca.crt"), dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        for (Path p : new Path[] {t.ca, t.cert, t.key}) {
            if (!Files.isReadable(p)) throw new IOException("TLS: cannot read " + p + " (ferry pki issue makes it)");
        }
        return t;
    }

    /**
     * The key and trust managers of these files, loaded once per process and read again when a
     * file's modification time changes (looked at every {@link #RELOAD}: gRPC's own periodic reload
     * waits at least a minute, too long for an operator watching a rotation).
     */
    private static final class Loaded implements Runnable {
        final Tls files;
        final AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
        final AdvancedTlsX509TrustManager cluster;
        long keysChanged, caChanged;
        private java.util.concurrent.ScheduledFuture<?> task;

        Loaded(Tls files) throws IOException, GeneralSecurityException {
            this.files = files;
            cluster = AdvancedTlsX509TrustManager.newBuilder()
                    .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION).build();
            reload();
            task = RELOADER.scheduleWithFixedDelay(this, RELOAD.toMillis(), RELOAD.toMillis(), TimeUnit.MILLISECONDS);
        }

        private void reload() throws IOException, GeneralSecurityException {
            long k = Math.max(files.cert.toFile().lastModified(), files.key.toFile().lastModified());
            long c = files.ca.toFile().lastModified();
            if (k != keysChanged) {
                keys.updateIdentityCredentials(files.cert.toFile(), files.key.toFile());
                keysChanged = k;
            }
            if (c != caChanged) {
                cluster.updateTrustCredentials(files.ca.toFile());
                caChanged = c;
            }
        }

        @Override
        public void run() {
            int missing = (Files.exists(files.cert) ? 0 : 1) + (Files.exists(files.key) ? 0 : 1) + (Files.exists(files.ca) ? 0 : 1);
            if (missing == 3) {
                // The member's directory is gone (a test's or a lab's, or a host being cleared): nothing
                // will rotate there; what was read goes on serving its connections.
                log.debug("TLS: {}, {}, {} are gone; no longer looked at", files.cert, files.key, files.ca);
                LOADED.remove(files, this);
                task.cancel(false);
                return;
            }
            // A rotation moving files into place: tried again next time.
            if (missing > 0) return;
            try {
                reload();
            } catch (IOException | GeneralSecurityException | RuntimeException e) {
                // Half-written files (a rotation in progress) are tried again next time; until then the last good ones serve.
                log.warn("TLS: reading {}, {}, {} again failed, still using what was read before: {}", files.cert, files.key, files.ca,
                        e.toString());
            }
        }
    }

    private Loaded loaded() throws IOException {
        try {
            return LOADED.computeIfAbsent(this, t -> {
                try {
                    return new Loaded(t);
                } catch (IOException | GeneralSecurityException e) {
                    throw new IllegalStateException("TLS: " + t.cert + ", " + t.key + ", " + t.ca + ": " + e.getMessage(), e);
                }
            });
        } catch (IllegalStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** This member's certificate and key, as the files hold them now. */
    public X509ExtendedKeyManager keyManager() throws IOException {
        return loaded().keys;
    }

    /**
     * Trusts what the cluster's CA issued (as {@code ca.crt} holds it now) and, of that, only a peer
     * whose identity {@code allowed} accepts; {@code what} says who that is in the refusal.
     */
    public X509ExtendedTrustManager trustManager(Predicate<Identity> allowed, String what) throws IOException {
        X509ExtendedTrustManager cluster = loaded().cluster;
        return new X509ExtendedTrustManager() {
            private void identity(X509Certificate[] chain) throws CertificateException {
                Identity who = Identity.of(chain[0]).orElse(null);
                if (who == null || !allowed.test(who)) {
                    throw new CertificateException("the peer's certificate is not " + what + "'s (" + chain[0].getSubjectX500Principal() + ")");
                }
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String auth) throws CertificateException {
                cluster.checkClientTrusted(chain, auth);
                identity(chain);
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String auth, Socket socket) throws CertificateException {
                cluster.checkClientTrusted(chain, auth, socket);
                identity(chain);
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String auth, SSLEngine engine) throws CertificateException {
                cluster.checkClientTrusted(chain, auth, engine);
                identity(chain);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String auth) throws CertificateException {
                cluster.checkServerTrusted(chain, auth);
                identity(chain);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String auth, Socket socket) throws CertificateException {
                cluster.checkServerTrusted(chain, auth, socket);
                identity(chain);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String auth, SSLEngine engine) throws CertificateException {
                cluster.checkServerTrusted(chain, auth, engine);
                identity(chain);
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return cluster.getAcceptedIssuers();
            }
        };
    }

    /**
     * A Netty server context for Ferry's own HTTP endpoints (an agent's TCP admin): this certificate,
     * and a client certificate of the cluster's CA required, whose identity {@code allowed} accepts.
     */
    public io.netty.handler.ssl.SslContext nettyServer(Predicate<Identity> allowed, String what) throws IOException {
        return io.netty.handler.ssl.SslContextBuilder.forServer(keyManager()).trustManager(trustManager(allowed, what))
                .clientAuth(io.netty.handler.ssl.ClientAuth.REQUIRE).protocols(PROTOCOLS).build();
    }

    /**
     * A Netty client context for Ferry's own HTTP endpoints: this certificate, and a server certificate
     * of the cluster's CA whose identity {@code allowed} accepts (known by identity, not host name).
     */
    public io.netty.handler.ssl.SslContext nettyClient(Predicate<Identity> allowed, String what) throws IOException {
        return io.netty.handler.ssl.SslContextBuilder.forClient().keyManager(keyManager()).trustManager(trustManager(allowed, what))
                .endpointIdentificationAlgorithm(null).protocols(PROTOCOLS).build();
    }

    /**
     * A client context for etcd's own client TLS (the board's store): this certificate, and an etcd
     * member's certificate of the CA in {@code ca.crt}, for the host name or address it is reached
     * at (etcd's certificates name no Ferry identity). Reloaded like the rest.
     */
    public io.netty.handler.ssl.SslContext etcdClient() throws IOException {
        Loaded l = loaded();
        // etcd's client speaks gRPC, HTTP/2 negotiated by ALPN.
        var alpn = new io.netty.handler.ssl.ApplicationProtocolConfig(io.netty.handler.ssl.ApplicationProtocolConfig.Protocol.ALPN,
                io.netty.handler.ssl.ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                io.netty.handler.ssl.ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2");
        return io.netty.handler.ssl.SslContextBuilder.forClient().keyManager(l.keys).trustManager(l.cluster)
                .endpointIdentificationAlgorithm("HTTPS").protocols(PROTOCOLS).applicationProtocolConfig(alpn).build();
    }

    /** The server's context: it requires a client certificate of any member of the cluster (the board decides what each may ask). */
    SslContext server() throws IOException {
        return GrpcSslContexts.configure(io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder.forServer(keyManager())).trustManager(trustManager(who -> true, "a cluster member"))
                .clientAuth(ClientAuth.REQUIRE).protocols(PROTOCOLS).build();
    }

    /**
     * A client's context: it presents this member's certificate and accepts only a board's certificate
     * from the cluster's CA. The board is known by the identity in its certificate, not by a host
     * name: replicas are reached by address, under one authority for all.
     */
    SslContext client() throws IOException {
        return GrpcSslContexts.forClient().keyManager(keyManager()).trustManager(trustManager(who -> who instanceof Identity.Board, "a board"))
                .endpointIdentificationAlgorithm(null).protocols(PROTOCOLS).build();
    }
}
