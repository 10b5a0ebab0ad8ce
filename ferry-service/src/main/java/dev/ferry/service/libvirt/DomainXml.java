package dev.ferry.service.libvirt;

import dev.ferry.service.Addresses;
import dev.ferry.service.ConfigException;
import dev.ferry.service.PortSpec;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

/**
 * A libvirt domain's Ferry ports, read from its XML: each {@code <ferry:port>} of the domain's
 * {@code <metadata>} (namespace {@link #NAMESPACE}) names the MAC of one of the domain's
 * {@code <interface type='vhostuser'>}, whose socket QEMU serves ({@code mode='server'}), and adds
 * what libvirt has no place for: the VNI, the VM's addresses, port security, MTU, offloads.
 *
 * <pre>{@code
 * <metadata>
 *   <ferry:ports xmlns:ferry="https://ferry.dev/xmlns/libvirt/1">
 *     <ferry:port mac="52:54:00:00:00:01" vni="100">   <!-- also id, mtu, security, offload -->
 *       <ferry:ip address="198.18.0.1"/>
 *     </ferry:port>
 *   </ferry:ports>
 * </metadata>
 * }</pre>
 *
 * The XML is what libvirt hands a hook, or what an operator feeds {@code ferry libvirt check}: it
 * is parsed without DTDs or external entities, and every refusal names the element or attribute.
 */
public final class DomainXml {
    /** The namespace of Ferry's element in a domain's {@code <metadata>}. */
    public static final String NAMESPACE = "https://ferry.dev/xmlns/libvirt/1";
    /** The most Ferry ports one domain may declare. */
    static final int MAX_PORTS = 64;

    private DomainXml() {}

    /** A domain: its name, UUID and Ferry ports (none for a domain without Ferry's metadata). */
    public record Domain(String name, String uuid, List<PortSpec> ports) {}

    /** The domain in {@code xml}, or a {@link ConfigException} naming what is wrong. */
    public static Domain parse(String xml) {
        Element domain = document(xml);
        if (!"domain".equals(domain.getLocalName())) {
            throw new ConfigException("domain: the XML's root is <" + domain.getLocalName() + ">, not a libvirt <domain>");
        }
        String name = text(child(domain, null, "name"));
        if (name == null || name.isBlank()) throw new ConfigException("domain/name: missing");
        String uuid = text(child(domain, null, "uuid"));
        Element metadata = child(domain, null, "metadata");
        Element ferry = metadata == null ? null : child(metadata, NAMESPACE, "ports");
        if (ferry == null) return new Domain(name, uuid, List.of());
        List<Element> declared = children(ferry, NAMESPACE, "port");
        if (declared.size() > MAX_PORTS) throw new ConfigException("metadata/ferry:ports: more than " + MAX_PORTS + " ports");
        List<Element> interfaces = interfaces(domain);
        List<PortSpec> ports = new ArrayList<>();
        for (int i = 0; i < declared.size(); i++) {
            String where = "metadata/ferry:port[" + (i + 1) + "]";
            PortSpec spec = port(declared.get(i), where, name, uuid, declared.size(), interfaces);
            spec.validate(where); // refuses now, naming the field, what the agent would refuse later
            for (PortSpec other : ports) {
                if (other.id().equals(spec.id())) throw new ConfigException(where + "/@id: '" + spec.id() + "' names two ports");
            }
            ports.add(spec);
        }
        return new Domain(name, uuid, List.copyOf(ports));
    }

    private static PortSpec port(Element p, String where, String domain, String uuid, int count, List<Element> interfaces) {
        String mac = attribute(p, "mac");
        if (mac == null) throw new ConfigException(where + "/@mac: missing (the MAC of one of the domain's interfaces)");
        Element nic = null;
        for (Element i : interfaces) {
            String address = attribute(child(i, null, "mac"), "address");
            if (address != null && address.equalsIgnoreCase(mac)) nic = i;
        }
        if (nic == null) throw new ConfigException(where + "/@mac: the domain has no <interface> with MAC " + mac);
        if (!"vhostuser".equals(attribute(nic, "type"))) {
            throw new ConfigException(where + "/@mac: the interface with MAC " + mac + " is of type '" + attribute(nic, "type")
                    + "'; Ferry serves <interface type='vhostuser'>");
        }
        Element source = child(nic, null, "source");
        String socket = attribute(source, "path");
        if (socket == null) throw new ConfigException(where + ": the interface with MAC " + mac + " has no <source path='...'>");
        if (!"server".equals(attribute(source, "mode"))) {
            throw new ConfigException(where + ": the interface with MAC " + mac + " must have <source mode='server'>: QEMU serves"
                    + " the socket and Ferry's agent connects, so that either may restart");
        }
        String id = attribute(p, "id");
        if (id == null) {
            if (count > 1) throw new ConfigException(where + "/@id: missing (a domain with several Ferry ports names each)");
            id = domain;
        }
        String vni = attribute(p, "vni");
        if (vni == null) throw new ConfigException(where + "/@vni: missing");
        List<String> ips = new ArrayList<>();
        for (Element ip : children(p, NAMESPACE, "ip")) {
            String address = attribute(ip, "address");
            if (address == null) throw new ConfigException(where + "/ferry:ip[" + (ips.size() + 1) + "]/@address: missing");
            ips.add(address);
        }
        return new PortSpec(id, "vhost-user", Addresses.integer(vni.trim(), where + "/@vni"), mac.toLowerCase(Locale.ROOT), ips, null, null, null,
                null, null, null, socket, attribute(p, "mtu") == null ? null : Addresses.integer(attribute(p, "mtu").trim(), where + "/@mtu"),
                onOff(p, "security", where), onOff(p, "offload", where), uuid);
    }

    private static List<Element> interfaces(Element domain) {
        Element devices = child(domain, null, "devices");
        return devices == null ? List.of() : children(devices, null, "interface");
    }

    private static Boolean onOff(Element p, String name, String where) {
        String v = attribute(p, name);
        return v == null ? null : PortSpec.onOff(v, where + "/@" + name);
    }

    private static Element document(String xml) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(true);
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null); // errors are thrown, not also printed
            return b.parse(new InputSource(new StringReader(xml))).getDocumentElement();
        } catch (SAXException e) {
            throw new ConfigException("domain: not well-formed XML: " + e.getMessage());
        } catch (ParserConfigurationException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The first child element {@code name} in {@code namespace} (null: none), or null. */
    private static Element child(Element parent, String namespace, String name) {
        List<Element> all = children(parent, namespace, name);
        return all.isEmpty() ? null : all.getFirst();
    }

    private static List<Element> children(Element parent, String namespace, String name) {
        List<Element> found = new ArrayList<>();
        if (parent == null) return found;
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && name.equals(e.getLocalName()) && java.util.Objects.equals(namespace, e.getNamespaceURI())) {
                found.add(e);
            }
        }
        return found;
    }

    private static String attribute(Element e, String name) {
        return e == null || !e.hasAttribute(name) ? null : e.getAttribute(name);
    }

    private static String text(Element e) {
        return e == null ? null : e.getTextContent().trim();
    }
}
