package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code ferry pki} as an operator runs it: a CA, then one certificate per member, each naming its role. */
class PkiCommandTest {
    @TempDir Path dir;

    private int ferry(String... args) {
        return new CommandLine(new FerryCli()).execute(args);
    }

    @Test
    void initThenIssueGivesEachMemberACertificateOfItsRoleFromTheCa() throws Exception {
        assertThat(ferry("pki", "init", "--dir", dir.toString())).isZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--host-id", "3", "--san", "127.0.0.1")).isZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--board", "--san", "127.0.0.1,localhost")).isZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--operator", "--name", "alice")).isZero();

        ClusterCa ca = ClusterCa.load(dir);
        assertThat(Identity.of(ClusterCa.readCertificate(dir.resolve("agent-3.crt")))).contains(new Identity.Host(3));
        assertThat(Identity.of(ClusterCa.readCertificate(dir.resolve("board.crt")))).contains(new Identity.Board());
        assertThat(Identity.of(ClusterCa.readCertificate(dir.resolve("alice.crt")))).contains(new Identity.Operator());
        assertThat(ca.issued(ClusterCa.readCertificate(dir.resolve("board.crt")))).isTrue();
    }

    @Test
    void aServiceCertificateNamesItsAddressesAndSpeaksForNoMember() throws Exception {
        assertThat(ferry("pki", "init", "--dir", dir.toString())).isZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--service", "--san", "10.0.0.5")).as("no --name").isEqualTo(2);
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--service", "--name", "etcd-1", "--san", "10.0.0.5,etcd-1")).isZero();

        var cert = ClusterCa.readCertificate(dir.resolve("etcd-1.crt"));
        assertThat(Identity.of(cert)).isEmpty();
        assertThat(cert.getSubjectAlternativeNames().stream().map(n -> String.valueOf(n.get(1))).toList())
                .containsExactlyInAnyOrder("10.0.0.5", "etcd-1");
        assertThat(ClusterCa.load(dir).issued(cert)).isTrue();
    }

    @Test
    void issuingWithoutACaOrWithTwoRolesOrABadHostIdIsRefused() {
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--operator")).as("no CA").isEqualTo(2);
        assertThat(ferry("pki", "init", "--dir", dir.toString())).isZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--operator", "--board")).as("two roles").isNotZero();
        assertThat(ferry("pki", "issue", "--dir", dir.toString(), "--host-id", "0")).as("host id 0").isEqualTo(2);
        assertThat(ferry("pki", "init", "--dir", dir.toString())).as("a second CA over the first").isEqualTo(2);
    }
}
