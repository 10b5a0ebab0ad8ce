package dev.ferry.rpc;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import dev.ferry.security.Identity;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A member's mutual TLS material, as {@code ferry pki} writes it: the cluster CA's certificate, and
 * the member's certificate and key. Both ends present a certificate and accept only the cluster's;
 * TLS 1.3 only.
 *
 * @param ca   the cluster CA's certificate ({@code ca.crt})
 * @param cert this member's certificate
 * @param key  its private key (PKCS#8 PEM)
 */
public record Tls(Path ca, Path cert, Path key) {
    private static final String[] PROTOCOLS = {"TLSv1.3"};

    /** {@code dir/ca.crt}, {@code dir/NAME.crt}, {@code dir/NAME.key}; an IOException names a missing one. */
    public static Tls inDir(Path dir, String name) throws IOException {
        Tls t = new Tls(dir.resolve("ca.crt"), dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        for (Path p : new Path[] {t.ca, t.cert, t.key}) {
            if (!Files.isReadable(p)) throw new IOException("TLS: cannot read " + p + " (ferry pki issue makes it)");
        }
        return t;
    }

    /** The server's context: it requires a client certificate from the cluster's CA. */
    SslContext server() throws IOException {
        return GrpcSslContexts.forServer(cert.toFile(), key.toFile()).trustManager(ca.toFile()).clientAuth(ClientAuth.REQUIRE)
                .protocols(PROTOCOLS).build();
    }

    /**
     * A client's context: it presents this member's certificate and accepts only a board's certificate
     * from the cluster's CA. The board is known by the identity in its certificate, not by a host
     * name: replicas are reached by address, under one authority for all.
     */
    SslContext client() throws IOException {
        return GrpcSslContexts.forClient().keyManager(cert.toFile(), key.toFile()).trustManager(boardsOnly())
                .endpointIdentificationAlgorithm(null).protocols(PROTOCOLS).build();
    }

    /** Trusts what the cluster's CA issued, and of that only a board's certificate. */
    private X509TrustManager boardsOnly() throws IOException {
        X509TrustManager cluster;
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            store.setCertificateEntry("ferry-ca", dev.ferry.security.ClusterCa.readCertificate(ca));
            TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            f.init(store);
            cluster = (X509TrustManager) f.getTrustManagers()[0];
        } catch (GeneralSecurityException e) {
            throw new IOException("TLS: " + ca + ": " + e.getMessage(), e);
        }
        return new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String auth) throws CertificateException {
                cluster.checkClientTrusted(chain, auth);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String auth) throws CertificateException {
                cluster.checkServerTrusted(chain, auth);
                if (!(Identity.of(chain[0]).orElse(null) instanceof Identity.Board)) {
                    throw new CertificateException("the server's certificate is not a board's (" + chain[0].getSubjectX500Principal() + ")");
                }
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return cluster.getAcceptedIssuers();
            }
        };
    }
}
