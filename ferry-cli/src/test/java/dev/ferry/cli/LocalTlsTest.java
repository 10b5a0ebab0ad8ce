package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.rpc.Tls;
import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Certificates on one machine without a step: the board makes the CA, every member issues itself one. */
class LocalTlsTest {
    @TempDir
    Path home;

    @Test
    void theBoardMakesThisMachinesCaAndItsOwnCertificateOnFirstStart() throws Exception {
        Path dir = home.resolve("pki");
        Tls board = LocalTls.resolve(dir, null, "board", new Identity.Board(), true);

        assertThat(board.cert()).exists();
        assertThat(Files.getPosixFilePermissions(dir)).isEqualTo(PosixFilePermissions.fromString("rwx------"));
        assertThat(Files.getPosixFilePermissions(dir.resolve(ClusterCa.CA_KEY))).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        assertThat(ClusterCa.load(dir).issued(ClusterCa.readCertificate(board.cert()))).isTrue();
    }

    @Test
    void anAgentIssuesItselfACertificateNamingItsHostFromThatCa() throws Exception {
        Path dir = home.resolve("pki");
        LocalTls.resolve(dir, null, "board", new Identity.Board(), true);
        Tls agent = LocalTls.resolve(dir, null, "agent-3", new Identity.Host(3), false);

        var cert = ClusterCa.readCertificate(agent.cert());
        assertThat(ClusterCa.load(dir).issued(cert)).isTrue();
        assertThat(cert.getSubjectAlternativeNames().toString()).contains("urn:ferry:host:3");
        // Started again, it takes what it issued.
        assertThat(LocalTls.resolve(dir, null, "agent-3", new Identity.Host(3), false).cert()).isEqualTo(agent.cert());
    }

    @Test
    void anAgentWithNoCaOnItsMachineIsToldToStartTheBoardOrBeGivenCertificates() {
        assertThatThrownBy(() -> LocalTls.resolve(home.resolve("pki"), null, "agent-1", new Identity.Host(1), false))
                .isInstanceOf(IOException.class).hasMessageContaining("start the board on this machine first")
                .hasMessageContaining("--insecure");
    }

    @Test
    void aGivenDirectoryWithoutTheCertificateIsRefusedNamingTheCommandThatIssuesIt() {
        Path given = home.resolve("given");
        assertThatThrownBy(() -> LocalTls.resolve(home.resolve("pki"), given, "agent-7", new Identity.Host(7), false))
                .isInstanceOf(IOException.class).hasMessageContaining("agent-7.crt").hasMessageContaining("ferry pki issue")
                .hasMessageContaining("--host-id 7");
        assertThat(given).doesNotExist();
    }
}
