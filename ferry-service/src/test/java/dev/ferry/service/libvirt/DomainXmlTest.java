package dev.ferry.service.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.service.ConfigException;
import dev.ferry.service.PortSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What Ferry reads from a libvirt domain's XML, and what it refuses, naming where. */
class DomainXmlTest {
    /** The example README shows and the package installs under /usr/share/doc/ferry/examples. */
    static final Path EXAMPLE = Path.of("..", "packaging", "libvirt", "web1.xml");

    static String example() throws Exception {
        return Files.readString(EXAMPLE);
    }

    static String domain(String metadata, String interfaces) {
        return "<domain type='kvm'><name>db1</name><uuid>0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0</uuid><metadata>" + metadata
                + "</metadata><devices>" + interfaces + "</devices></domain>";
    }

    static String ports(String... ports) {
        return "<ferry:ports xmlns:ferry='" + DomainXml.NAMESPACE + "'>" + String.join("", ports) + "</ferry:ports>";
    }

    static String vhostUser(String mac, String path, String mode) {
        return "<interface type='vhostuser'><mac address='" + mac + "'/><source type='unix' path='" + path + "' mode='" + mode
                + "'/><model type='virtio'/></interface>";
    }

    @Test
    void theExampleDomainDeclaresOnePortOnItsVhostUserSocket() throws Exception {
        DomainXml.Domain d = DomainXml.parse(example());

        assertThat(d.name()).isEqualTo("web1");
        assertThat(d.ports()).containsExactly(new PortSpec("web1", "vhost-user", 100, "52:54:00:00:00:01", List.of("198.18.0.1"),
                null, null, null, null, null, null, "/run/ferry/vm/web1.sock", null, null, null, null));
    }

    @Test
    void theReadmeShowsTheExampleThisTestReads() throws Exception {
        assertThat(Files.readString(Path.of("..", "README.md"))).contains(example().strip());
    }

    @Test
    void aDomainWithoutFerrysMetadataHasNoPorts() {
        DomainXml.Domain d = DomainXml.parse(domain("<other:x xmlns:other='urn:other'/>",
                vhostUser("52:54:00:00:00:02", "/run/x.sock", "server")));

        assertThat(d.name()).isEqualTo("db1");
        assertThat(d.uuid()).isEqualTo("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assertThat(d.ports()).isEmpty();
    }

    @Test
    void everyAttributeOfAPortIsRead() {
        DomainXml.Domain d = DomainXml.parse(domain(ports(
                "<ferry:port id='db1-a' mac='52:54:00:AA:00:02' vni='7' mtu='1500' security='off' offload='no'>"
                        + "<ferry:ip address='198.18.0.2'/><ferry:ip address='198.18.0.3'/></ferry:port>"),
                vhostUser("52:54:00:aa:00:02", "/run/ferry/vm/db1.sock", "server")));

        assertThat(d.ports()).containsExactly(new PortSpec("db1-a", "vhost-user", 7, "52:54:00:aa:00:02",
                List.of("198.18.0.2", "198.18.0.3"), null, null, null, null, null, null, "/run/ferry/vm/db1.sock", 1500, false, false, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
    }

    @Test
    void aPortWhoseMacNoInterfaceHasIsRefusedNamingTheMac() {
        refused(domain(ports("<ferry:port mac='52:54:00:00:00:09' vni='100'/>"), vhostUser("52:54:00:00:00:02", "/run/x.sock", "server")),
                "metadata/ferry:port[1]/@mac", "no <interface> with MAC 52:54:00:00:00:09");
    }

    @Test
    void anInterfaceThatIsNotVhostUserIsRefused() {
        refused(domain(ports("<ferry:port mac='52:54:00:00:00:02' vni='100'/>"),
                "<interface type='network'><mac address='52:54:00:00:00:02'/><source network='default'/></interface>"),
                "metadata/ferry:port[1]/@mac", "of type 'network'");
    }

    @Test
    void aSocketQemuDoesNotServeIsRefused() {
        refused(domain(ports("<ferry:port mac='52:54:00:00:00:02' vni='100'/>"), vhostUser("52:54:00:00:00:02", "/run/x.sock", "client")),
                "metadata/ferry:port[1]", "mode='server'");
    }

    @Test
    void severalPortsNeedAnIdEach() {
        refused(domain(ports("<ferry:port id='a' mac='52:54:00:00:00:02' vni='100'/>", "<ferry:port mac='52:54:00:00:00:03' vni='100'/>"),
                vhostUser("52:54:00:00:00:02", "/run/a.sock", "server") + vhostUser("52:54:00:00:00:03", "/run/b.sock", "server")),
                "metadata/ferry:port[2]/@id", "names each");
    }

    @Test
    void aVniThatIsNotANumberIsRefusedNamingTheAttribute() {
        refused(domain(ports("<ferry:port mac='52:54:00:00:00:02' vni='blue'/>"), vhostUser("52:54:00:00:00:02", "/run/x.sock", "server")),
                "metadata/ferry:port[1]/@vni", "'blue' is not a number");
    }

    @Test
    void anAddressThatIsNotIpv4IsRefusedAsTheAgentWould() {
        refused(domain(ports("<ferry:port mac='52:54:00:00:00:02' vni='100'><ferry:ip address='198.18.0.300'/></ferry:port>"),
                vhostUser("52:54:00:00:00:02", "/run/x.sock", "server")), "metadata/ferry:port[1].ips[0]", "198.18.0.300");
    }

    @Test
    void aDocumentTypeIsRefusedSoNoEntityIsExpanded() {
        String xxe = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>";
        refused(xxe, "domain", "not well-formed XML");
    }

    @Test
    void textThatIsNotADomainIsRefused() {
        refused("not xml at all", "domain", "not well-formed XML");
        refused("<network><name>default</name></network>", "domain", "not a libvirt <domain>");
    }

    private static void refused(String xml, String field, String reason) {
        assertThatThrownBy(() -> DomainXml.parse(xml)).isInstanceOf(ConfigException.class).hasMessageStartingWith(field)
                .hasMessageContaining(reason);
    }
}
