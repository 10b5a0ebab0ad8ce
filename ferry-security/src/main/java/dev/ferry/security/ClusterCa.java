package dev.ferry.security;

import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.io.Writer;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A Ferry cluster's certificate authority: an ECDSA P-256 key and a self-signed certificate kept in a
 * directory ({@code ca.crt}, {@code ca.key}, the key readable by its owner only), which issues each
 * board replica, agent and operator a certificate naming its {@link Identity}. What {@code ferry pki}
 * runs; a cluster on one machine makes a throwaway one.
 */
public final class ClusterCa {
    public static final String CA_CERT = "ca.crt", CA_KEY = "ca.key";
    /** How long a CA and an issued certificate are valid unless told otherwise. */
    public static final Duration CA_VALIDITY = Duration.ofDays(3_650), ISSUED_VALIDITY = Duration.ofDays(365);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final X509Certificate certificate;
    private final PrivateKey key;

    private ClusterCa(X509Certificate certificate, PrivateKey key) {
        this.certificate = certificate;
        this.key = key;
    }

    /** A certificate with its private key, as issued. */
    public record Issued(X509Certificate certificate, PrivateKey key) {
        /** Writes {@code name.crt} and {@code name.key} (owner-only) into {@code dir}; refuses to replace either. */
        public void write(Path dir, String name) throws IOException {
            checkName(name);
            Files.createDirectories(dir);
            writeNew(dir.resolve(name + ".crt"), pem(certificate), false);
            writeNew(dir.resolve(name + ".key"), pem(key), true);
        }
    }

    /** Makes a new CA in {@code dir}; refuses if one is there already (issued certificates would no longer verify). */
    public static ClusterCa init(Path dir, String cluster, Duration validity) throws IOException {
        if (Files.exists(dir.resolve(CA_KEY)) || Files.exists(dir.resolve(CA_CERT))) {
            throw new IOException(dir + " already holds a cluster CA (" + CA_CERT + ", " + CA_KEY + "); remove them to make a new one");
        }
        ClusterCa ca = create(cluster, validity);
        Files.createDirectories(dir);
        writeNew(dir.resolve(CA_CERT), pem(ca.certificate), false);
        writeNew(dir.resolve(CA_KEY), pem(ca.key), true);
        return ca;
    }

    /** A CA kept in memory only: a cluster on one machine (the demo, the lab) that needs no files. */
    public static ClusterCa create(String cluster, Duration validity) {
        checkName(cluster);
        KeyPair pair = newKeyPair();
        X500Name subject = new X500Name("CN=Ferry cluster CA " + cluster);
        Instant now = Instant.now();
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(), Date.from(now.minusSeconds(60)),
                    Date.from(now.plus(validity)), subject, pair.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
            return new ClusterCa(sign(b, pair.getPrivate()), pair.getPrivate());
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot make a CA certificate: " + e, e);
        }
    }

    /** The CA kept in {@code dir}, or an IOException saying what is missing or unreadable. */
    public static ClusterCa load(Path dir) throws IOException {
        Path cert = dir.resolve(CA_CERT), key = dir.resolve(CA_KEY);
        if (!Files.isRegularFile(cert) || !Files.isRegularFile(key)) {
            throw new IOException(dir + " holds no cluster CA (" + CA_CERT + " and " + CA_KEY + "): run ferry pki init --dir " + dir);
        }
        return new ClusterCa(readCertificate(cert), readKey(key));
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /**
     * Issues {@code identity} a certificate for TLS both ways (client and server), its identity as a
     * URI in the subject alternative names with {@code hostNames} (DNS names or IP addresses a board
     * or agent is reached at).
     */
    public Issued issue(Identity identity, String name, List<String> hostNames, Duration validity) {
        return issue((Identity) java.util.Objects.requireNonNull(identity, "identity"), name, hostNames, validity, true);
    }

    /**
     * Issues a certificate naming no Ferry identity, only {@code hostNames}: for a service the board
     * reaches, such as an etcd member, or a client of it. No board or agent accepts it as a member.
     */
    public Issued issueService(String name, List<String> hostNames, Duration validity) {
        return issue(null, name, hostNames, validity, false);
    }

    private Issued issue(Identity identity, String name, List<String> hostNames, Duration validity, boolean member) {
        checkName(name);
        KeyPair pair = newKeyPair();
        Instant now = Instant.now();
        try {
            X500Name issuer = new X500Name(certificate.getSubjectX500Principal().getName());
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(), Date.from(now.minusSeconds(60)),
                    Date.from(now.plus(validity)), new X500Name("CN=" + name), pair.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            List<GeneralName> names = new ArrayList<>();
            if (member) names.add(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri()));
            for (String h : hostNames) names.add(hostName(h));
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement));
            b.addExtension(Extension.extendedKeyUsage, false,
                    new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            if (!names.isEmpty()) {
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
            b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(certificate));
            return new Issued(sign(b, key), pair.getPrivate());
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot issue a certificate: " + e, e);
        }
    }

    /** Whether {@code leaf} was signed by this CA and is valid now. */
    public boolean issued(X509Certificate leaf) {
        try {
            leaf.verify(certificate.getPublicKey());
            leaf.checkValidity();
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    // ------------------------------------------------------------------ files

    public static X509Certificate readCertificate(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (GeneralSecurityException e) {
            throw new IOException(file + " is not a PEM certificate: " + e.getMessage(), e);
        }
    }

    public static PrivateKey readKey(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII); PEMParser p = new PEMParser(r)) {
            Object o = p.readObject();
            if (o instanceof PrivateKeyInfo info) return new JcaPEMKeyConverter().getPrivateKey(info);
            if (o instanceof org.bouncycastle.openssl.PEMKeyPair kp) return new JcaPEMKeyConverter().getKeyPair(kp).getPrivate();
            throw new IOException(file + " is not a PEM private key");
        }
    }

    static String pem(Object o) {
        if (o instanceof PrivateKey k) {
            // PKCS#8 ("PRIVATE KEY"): what OpenSSL, Netty and etcd read for any key type.
            return "-----BEGIN PRIVATE KEY-----\n"
                    + java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(k.getEncoded())
                    + "\n-----END PRIVATE KEY-----\n";
        }
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return s.toString();
    }

    private static void writeNew(Path file, String text, boolean secret) throws IOException {
        if (Files.exists(file)) throw new FileAlreadyExistsException(file + " exists already; remove it to issue a new one");
        if (secret) {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try (Writer w = Files.newBufferedWriter(file, StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING)) {
                w.write(text);
            }
        } else {
            Files.writeString(file, text, StandardCharsets.US_ASCII, StandardOpenOption.CREATE_NEW);
        }
    }

    // ------------------------------------------------------------------ building blocks

    private static GeneralName hostName(String h) {
        // An IP address literal is an iPAddress name; anything else a DNS name.
        boolean ip = h.matches("[0-9.]+") || h.contains(":");
        if (ip) {
            try {
                InetAddress.ofLiteral(h);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + h + "' is not an IP address");
            }
            return new GeneralName(GeneralName.iPAddress, h);
        }
        if (!h.matches("[A-Za-z0-9.-]{1,253}")) throw new IllegalArgumentException("'" + h + "' is not a DNS name");
        return new GeneralName(GeneralName.dNSName, h);
    }

    private static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("name '" + name + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
    }

    private static KeyPair newKeyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no EC P-256 in this JDK: " + e, e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }
}
