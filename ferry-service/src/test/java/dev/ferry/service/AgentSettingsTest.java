package dev.ferry.service;


import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.agent.runtime.LoopPriority;
import dev.ferry.agent.runtime.UnderlaySocket;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An agent's configuration: what a good file yields, and every kind of bad one refused naming its field. */
class AgentSettingsTest {
    @TempDir Path dir;

    private static final String GOOD = """
            host-id: 7
            listen: 127.0.0.1:6081
            board: 127.0.0.1:7070
            admin: 127.0.0.1:9107
            vnis: [100, 200]
            tuning: { buffer-millis: 1500, retry-millis: 50 }
            ports:
              - id: web1
                type: qemu-socket
                vni: 100
                mac: 52:54:00:00:00:01
                ips: [198.18.0.1]
                local: 127.0.0.1:7001
                remote: 127.0.0.1:7000
              - id: db1
                type: tap
                vni: 200
                mac: 52:54:00:00:00:02
                device: tap-db1
            """;

    private AgentSettings.Validated load(String yaml) throws Exception {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(file, yaml);
        return AgentSettings.load(file).validate();
    }

    private void refused(String yaml, String field, String reason) {
        assertThatThrownBy(() -> load(yaml)).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith(field).hasMessageContaining(reason);
    }

    @Test
    void aMetricsTokenFileIsRefusedWithoutMetricsToGuardOrWhenEmpty() throws Exception {
        Path empty = dir.resolve("empty.token");
        Files.writeString(empty, "\n  \n");
        refused(GOOD + "metrics-token-file: " + empty + "\n", "metrics-token-file", "given without metrics");
        refused(GOOD + "metrics: 127.0.0.1:0\nmetrics-token-file: " + empty + "\n", "metrics-token-file", "is empty");
        refused(GOOD + "metrics: 127.0.0.1:0\nmetrics-token-file: " + dir.resolve("none") + "\n", "metrics-token-file", "cannot read");
    }

    @Test
    void theFileSaysWhereTheCertificatesAreAndWhetherToSealAndAnUnknownKeyInItIsRefused() throws Exception {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(file, GOOD + "security: { tls-dir: /etc/ferry/pki, tls-name: web-host, plaintext-underlay: true }\n");
        AgentSettings.Security security = AgentSettings.load(file).securityOrDefault();

        assertThat(security.tlsDir()).isEqualTo("/etc/ferry/pki");
        assertThat(security.tlsName()).isEqualTo("web-host");
        assertThat(security.plaintextUnderlay()).isTrue();
        assertThat(security.insecure()).isNull();
        assertThat(AgentSettings.empty().securityOrDefault().tlsDir()).as("unset: this machine's own CA").isNull();
        refused(GOOD + "security: { tls-dri: /etc/ferry/pki }\n", "security.tls-dri", "unknown field");
    }

    @Test
    void aGoodFileYieldsTheAgentItDescribes() throws Exception {
        AgentSettings.Validated v = load(GOOD);
        assertThat(v.config().hostId()).isEqualTo(7);
        assertThat(v.config().endpoint()).isEqualTo("127.0.0.1:6081");
        assertThat(v.config().vnis()).containsExactlyInAnyOrder(100, 200);
        assertThat(v.config().bufferMillis()).isEqualTo(1500);
        assertThat(v.config().retryMillis()).isEqualTo(50);
        assertThat(v.admin()).isEqualTo(new HttpAddress.Tcp(new java.net.InetSocketAddress("127.0.0.1", 9107)));
        assertThat(v.ports()).extracting(PortSpec.Port::id).containsExactly("web1", "db1");
        assertThat(v.ports().getFirst().key().mac()).isEqualTo(0x52_54_00_00_00_01L);
        assertThat(v.ports().getFirst().ips()).containsExactly(0xC6_12_00_01);
        assertThat(v.ports().get(1).kind()).isEqualTo(PortSpec.Kind.TAP);
    }

    @Test
    void flagsOverrideTheFileAndAddPorts() throws Exception {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(file, GOOD);
        AgentSettings.Validated v = AgentSettings.load(file).override(9, null, null, "10.0.0.1:7070", null, null, null,
                List.of(PortSpec.parseFlag("id=vm9,type=tap,vni=100,mac=52:54:00:00:00:09,device=tap9", "--port[0]"))).validate();
        assertThat(v.config().hostId()).isEqualTo(9);
        assertThat(v.board()).isEqualTo("10.0.0.1:7070");
        assertThat(v.ports()).extracting(PortSpec.Port::id).containsExactly("web1", "db1", "vm9");
    }

    @Test
    void aPortWithIpsHasPortSecurityAndJumboFramesByDefaultAndOneWithoutIpsNoPortSecurity() throws Exception {
        AgentSettings.Validated v = load(GOOD);
        assertThat(v.ports().getFirst().policy()).isEqualTo(new dev.ferry.agent.PortPolicy(9_000, true));
        assertThat(v.ports().get(1).policy()).isEqualTo(new dev.ferry.agent.PortPolicy(9_000, false));
        assertThat(v.config().mtuOf(100)).isEqualTo(9_000);
    }

    @Test
    void aPortsMtuAndPortSecurityAndAVnisMtuAreTakenFromTheFile() throws Exception {
        AgentSettings.Validated v = load(GOOD.replace("    ips: [198.18.0.1]", "    ips: [198.18.0.1]\n    mtu: 1500\n    security: false")
                + "vni-mtu: { 200: 1450 }\n");
        assertThat(v.ports().getFirst().policy()).isEqualTo(new dev.ferry.agent.PortPolicy(1_500, false));
        assertThat(v.config().mtuOf(200)).isEqualTo(1_450);
        assertThat(v.config().mtuOf(100)).isEqualTo(9_000);
    }

    @Test
    void aPortMtuAboveJumboIsRefusedWithItsPath() {
        refused(GOOD.replace("    device: tap-db1", "    device: tap-db1\n    mtu: 9001"), "ports[1].mtu", "68..9000");
    }

    @Test
    void aVniMtuForAVniNotServedOrOutOfRangeIsRefusedByName() {
        refused(GOOD + "vni-mtu: { 300: 1500 }\n", "vni-mtu.300", "not one of this agent's vnis");
        refused(GOOD + "vni-mtu: { 100: 20 }\n", "vni-mtu.100", "68..9000");
    }

    @Test
    void aPortSecurityFlagThatIsNotABooleanIsRefusedByName() {
        assertThatThrownBy(() -> PortSpec.parseFlag("id=a,type=tap,vni=1,mac=52:54:00:00:00:01,device=t,security=maybe", "--port"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("--port.security");
    }

    @Test
    void anUnknownKeyIsRefusedByName() {
        refused(GOOD + "colour: blue\n", "colour", "unknown field");
    }

    @Test
    void anUnknownKeyInAPortIsRefusedWithItsPath() {
        refused(GOOD.replace("    device: tap-db1", "    device: tap-db1\n    speed: 10"), "ports[1].speed", "unknown field");
    }

    @Test
    void aValueOfTheWrongTypeIsRefusedByName() {
        refused(GOOD.replace("host-id: 7", "host-id: seven"), "host-id", "");
    }

    @Test
    void aMissingHostIdIsRefused() {
        refused(GOOD.replace("host-id: 7\n", ""), "host-id", "missing");
    }

    @Test
    void aHostIdOutOfRangeIsRefused() {
        refused(GOOD.replace("host-id: 7", "host-id: 70000"), "host-id", "not in 1..65535");
    }

    @Test
    void aMissingBoardIsRefused() {
        refused(GOOD.replace("board: 127.0.0.1:7070\n", ""), "board", "missing");
    }

    @Test
    void aBoardReplicaListWithABadOrEmptyEntryIsRefused() {
        refused(GOOD.replace("board: 127.0.0.1:7070", "board: 127.0.0.1:7070,127.0.0.1"), "board", "not host:port");
        refused(GOOD.replace("board: 127.0.0.1:7070", "board: 127.0.0.1:7070,,127.0.0.1:7071"), "board", "empty address");
    }

    @Test
    void aBoardReplicaListIsTaken() throws Exception {
        String list = "127.0.0.1:7070,127.0.0.1:7071";
        assertThat(load(GOOD.replace("board: 127.0.0.1:7070", "board: " + list)).board()).isEqualTo(list);
    }

    @Test
    void aListenAddressWithoutPortIsRefused() {
        refused(GOOD.replace("listen: 127.0.0.1:6081", "listen: 127.0.0.1"), "listen", "not host:port");
    }

    @Test
    void aWildcardListenWithoutAdvertiseIsRefused() {
        refused(GOOD.replace("listen: 127.0.0.1:6081", "listen: 0.0.0.0:6081"), "advertise", "wildcard");
    }

    @Test
    void aVniOutOfRangeIsRefused() {
        refused(GOOD.replace("vnis: [100, 200]", "vnis: [100, 16777216]"), "vnis[1]", "not in 0..16777215");
    }

    @Test
    void anUnknownModeIsRefused() {
        refused(GOOD + "mode: fast\n", "mode", "not ferry, naive or eager");
    }

    @Test
    void aQmpPortWithAStandbyFlagIsRefusedSinceQemuSaysWhichItIs() {
        refused(GOOD.replace("remote: 127.0.0.1:7000", "remote: 127.0.0.1:7000\n    qmp: /run/web1.qmp\n    standby: true"),
                "ports[0].standby", "not with qmp");
    }

    @Test
    void anUnknownTransportIsRefused() {
        refused(GOOD + "transport: dpdk\n", "transport", "not auto, epoll or nio");
    }

    @Test
    void theTransportIsReadFromTheFileAndAFlagOverridesIt() throws Exception {
        assertThat(load(GOOD).transport()).isEqualTo(UnderlaySocket.Transport.AUTO);
        assertThat(load(GOOD + "transport: nio\n").transport()).isEqualTo(UnderlaySocket.Transport.NIO);
        Path file = dir.resolve("agent.yaml");
        assertThat(AgentSettings.load(file).withTransport("epoll").validate().transport()).isEqualTo(UnderlaySocket.Transport.EPOLL);
    }

    @Test
    void aBadTimingIsRefusedUnderTuning() {
        refused(GOOD.replace("retry-millis: 50", "retry-millis: 0"), "tuning.retry-millis", "must be positive");
    }

    @Test
    void theLoopKeepsTheProcesssPriorityUnlessTuningGivesItANiceValue() throws Exception {
        assertThat(load(GOOD).loopNice()).isEqualTo(LoopPriority.INHERIT);
        assertThat(load(GOOD.replace("retry-millis: 50", "retry-millis: 50, loop-nice: -10")).loopNice()).isEqualTo(-10);
    }

    @Test
    void aLoopNiceValueOutsideLinuxsRangeIsRefused() {
        refused(GOOD.replace("retry-millis: 50", "retry-millis: 50, loop-nice: -21"), "tuning.loop-nice", "not in -20..19");
    }

    @Test
    void aPortWithoutIdIsRefused() {
        refused(GOOD.replace("  - id: web1\n    type", "  - type"), "ports[0].id", "missing");
    }

    @Test
    void aPortOfUnknownTypeIsRefused() {
        refused(GOOD.replace("type: qemu-socket", "type: vhost"), "ports[0].type", "not qemu-socket, tap or vhost-user");
    }

    @Test
    void aVhostUserPortNamesQemusSocket() throws Exception {
        PortSpec.Port p = PortSpec.parseFlag("id=vm9,type=vhost-user,vni=100,mac=52:54:00:00:00:09,socket=/run/ferry/vm9.sock", "--port[0]")
                .validate("--port[0]");
        assertThat(p.kind()).isEqualTo(PortSpec.Kind.VHOST_USER);
        assertThat(p.socket()).isEqualTo(Path.of("/run/ferry/vm9.sock"));
    }

    @Test
    void aVhostUserPortWithoutSocketIsRefused() {
        assertThatThrownBy(() -> PortSpec.parseFlag("id=vm9,type=vhost-user,vni=100,mac=52:54:00:00:00:09", "--port[0]").validate("--port[0]"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--port[0].socket: missing");
    }

    @Test
    void aSocketOnAPortOfAnotherTypeIsRefused() {
        refused(GOOD.replace("    device: tap-db1\n", "    device: tap-db1\n    socket: /run/ferry/db1.sock\n"), "ports[1].socket",
                "only for type vhost-user");
    }

    @Test
    void aBadMacIsRefused() {
        refused(GOOD.replace("mac: 52:54:00:00:00:01", "mac: 52:54:00:00:01"), "ports[0].mac", "not a MAC address");
    }

    @Test
    void aMulticastMacIsRefused() {
        refused(GOOD.replace("mac: 52:54:00:00:00:01", "mac: 01:00:5e:00:00:01"), "ports[0].mac", "multicast");
    }

    @Test
    void aBadIpIsRefused() {
        refused(GOOD.replace("ips: [198.18.0.1]", "ips: [198.18.0.300]"), "ports[0].ips[0]", "not an IPv4 address");
    }

    @Test
    void aQemuSocketPortWithoutRemoteIsRefused() {
        refused(GOOD.replace("    remote: 127.0.0.1:7000\n", ""), "ports[0].remote", "missing");
    }

    @Test
    void aTapPortWithoutDeviceIsRefused() {
        refused(GOOD.replace("    device: tap-db1\n", ""), "ports[1].device", "missing");
    }

    @Test
    void aTapDeviceNameTooLongIsRefused() {
        refused(GOOD.replace("device: tap-db1", "device: tap-with-a-very-long-name"), "ports[1].device", "1-15");
    }

    @Test
    void aPortInAVniTheAgentDoesNotServeIsRefused() {
        refused(GOOD.replace("    vni: 200", "    vni: 300"), "ports[1].vni", "not one of this agent's vnis");
    }

    @Test
    void twoPortsWithOneIdAreRefused() {
        refused(GOOD.replace("id: db1", "id: web1"), "ports[1].id", "used by another port");
    }

    @Test
    void aStandbyPortWithANonPositiveMigrationIdIsRefused() {
        refused(GOOD.replace("    device: tap-db1\n", "    device: tap-db1\n    standby: true\n    migration: 0\n"), "ports[1].migration",
                "is not a migration id");
    }

    @Test
    void aFileThatIsNotYamlIsRefused() {
        refused("host-id: 'unterminated\n", dir.resolve("agent.yaml").toString(), "not valid YAML");
    }

    @Test
    void aMissingFileIsRefused() {
        assertThatThrownBy(() -> AgentSettings.load(dir.resolve("nope.yaml"))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("nope.yaml").hasMessageContaining("not a readable file");
    }

    @Test
    void aPortFlagWithAnUnknownKeyIsRefused() {
        assertThatThrownBy(() -> PortSpec.parseFlag("id=a,colour=red", "--port[0]")).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("--port[0].colour").hasMessageContaining("unknown field");
    }
}
