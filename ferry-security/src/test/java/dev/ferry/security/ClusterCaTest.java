package dev.ferry.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.Signature;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cluster's CA as {@code ferry pki} uses it: what it issues names one identity and verifies against it alone. */
class ClusterCaTest {
    @TempDir Path dir;

    @Test
    void aCertificateIssuedToAHostNamesThatHostAndVerifiesAgainstTheCa() throws Exception {
        ClusterCa ca = ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY);
        ClusterCa.Issued agent = ca.issue(new Identity.Host(3), "agent-3", List.of("127.0.0.1", "host3.example"), ClusterCa.ISSUED_VALIDITY);

        assertThat(ca.issued(agent.certificate())).isTrue();
        assertThat(Identity.of(agent.certificate())).contains(new Identity.Host(3));
        assertThat(agent.certificate().getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(agent.certificate().getBasicConstraints()).as("not a CA").isEqualTo(-1);
    }

    @Test
    void operatorsAndBoardReplicasAreIssuedTheirRoles() {
        ClusterCa ca = ClusterCa.create("test", ClusterCa.CA_VALIDITY);

        assertThat(Identity.of(ca.issue(new Identity.Operator(), "alice", List.of(), Duration.ofDays(1)).certificate()))
                .contains(new Identity.Operator());
        assertThat(Identity.of(ca.issue(new Identity.Board(), "board-1", List.of("127.0.0.1"), Duration.ofDays(1)).certificate()))
                .contains(new Identity.Board());
    }

    @Test
    void aCertificateFromAnotherClustersCaDoesNotVerify() {
        ClusterCa ours = ClusterCa.create("ours", ClusterCa.CA_VALIDITY), theirs = ClusterCa.create("theirs", ClusterCa.CA_VALIDITY);
        ClusterCa.Issued stranger = theirs.issue(new Identity.Host(3), "agent-3", List.of(), Duration.ofDays(1));

        assertThat(ours.issued(stranger.certificate())).isFalse();
    }

    @Test
    void theCaAndIssuedCertificatesSurviveTheirFilesAndKeysAreTheOwnersAlone() throws Exception {
        ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY);
        ClusterCa loaded = ClusterCa.load(dir);
        loaded.issue(new Identity.Host(7), "agent-7", List.of(), Duration.ofDays(1)).write(dir, "agent-7");

        var cert = ClusterCa.readCertificate(dir.resolve("agent-7.crt"));
        var key = ClusterCa.readKey(dir.resolve("agent-7.key"));
        assertThat(loaded.issued(cert)).isTrue();
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(key);
        s.update(new byte[] {1, 2, 3});
        byte[] signed = s.sign();
        s.initVerify(cert.getPublicKey());
        s.update(new byte[] {1, 2, 3});
        assertThat(s.verify(signed)).as("the key is the certificate's").isTrue();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("agent-7.key")))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(ClusterCa.CA_KEY)))).isEqualTo("rw-------");
    }

    @Test
    void aSecondInitOrIssueOverAnExistingFileIsRefusedSayingWhy() throws Exception {
        ClusterCa ca = ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY);
        ca.issue(new Identity.Operator(), "alice", List.of(), Duration.ofDays(1)).write(dir, "alice");

        assertThatThrownBy(() -> ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY)).isInstanceOf(IOException.class)
                .hasMessageContaining("already holds a cluster CA");
        assertThatThrownBy(() -> ca.issue(new Identity.Operator(), "alice", List.of(), Duration.ofDays(1)).write(dir, "alice"))
                .hasMessageContaining("exists already");
    }

    @Test
    void loadingFromADirectoryWithoutACaSaysHowToMakeOne() {
        assertThatThrownBy(() -> ClusterCa.load(dir)).isInstanceOf(IOException.class).hasMessageContaining("ferry pki init");
    }

    @Test
    void identitiesParseOnlyFromFerrysOwnUrisAndHostIdsInRange() {
        assertThat(Identity.parse("urn:ferry:host:65535")).contains(new Identity.Host(65_535));
        assertThat(Identity.parse("urn:ferry:host:0")).isEmpty();
        assertThat(Identity.parse("urn:ferry:host:x")).isEmpty();
        assertThat(Identity.parse("urn:ferry:admin")).isEmpty();
        assertThat(Identity.parse("https://example.com")).isEmpty();
        assertThatThrownBy(() -> ClusterCa.create("test", ClusterCa.CA_VALIDITY)
                .issue(new Identity.Host(1), "x", List.of("not a name!"), Duration.ofDays(1))).hasMessageContaining("not a DNS name");
    }
}
