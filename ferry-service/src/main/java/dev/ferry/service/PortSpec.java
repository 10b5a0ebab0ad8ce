package dev.ferry.service;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.ferry.agent.PortPolicy;
import dev.ferry.agent.port.PolledPort;
import dev.ferry.agent.port.QemuSocketPort;
import dev.ferry.agent.port.TapPort;
import dev.ferry.agent.port.vhost.VhostUserPort;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One VM's port as an operator writes it: in the agent's YAML file, as a {@code --port} flag, or in
 * {@code ferry ctl port add}. {@link #validate} turns it into a {@link Port} or refuses it naming
 * the field.
 *
 * <pre>
 * - id: web1                 # the VM's name
 *   type: qemu-socket        # or tap, or vhost-user
 *   vni: 100
 *   mac: 52:54:00:00:00:01
 *   ips: [198.18.0.1]
 *   local: 127.0.0.1:7001    # qemu-socket: where the agent listens (QEMU's remote)
 *   remote: 127.0.0.1:7000   # qemu-socket: where QEMU listens (QEMU's local)
 *   device: tap-web1         # tap: the device's name
 *   socket: /run/ferry/web1.vhost # vhost-user: QEMU's vhost-user socket (QEMU is the server)
 *   standby: false           # true: a paused incoming copy (migration destination)
 *   migration: 0             # with standby: the migration's id (default: learnt from the source's agent)
 *   qmp: /run/ferry/web1.qmp # a QMP socket of the VM's QEMU: the agent follows its migrations
 *                            # itself (standby or not, and every step), so no standby/migration
 *   mtu: 1500                # the VM's MTU, 68..9000 (default 9000, never above its VNI's)
 *   security: true           # port security: only the VM's own MAC and ips as sources, in ARP and
 *                            # neighbour discovery too (default: on when ips are given)
 *   offload: true            # tap, vhost-user: checksum and TCP segmentation offload with the VM
 *                            # (default: on; vhost-user also merges receive buffers)
 *   domain: 0f1e2d3c-...     # the UUID of the VM's libvirt domain: the agent follows its migrations
 *                            # through libvirt's events (what libvirt's hook sets)
 * </pre>
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PortSpec(String id, String type, Integer vni, String mac, List<String> ips, String local, String remote,
                       String device, Boolean standby, Long migration, String qmp, String socket, Integer mtu,
                       Boolean security, Boolean offload, String domain) {

    /** The kinds of port. */
    public enum Kind {
        QEMU_SOCKET("qemu-socket"), TAP("tap"), VHOST_USER("vhost-user");

        final String label;

        Kind(String label) {
            this.label = label;
        }

        static Kind of(String label) {
            for (Kind k : values()) if (k.label.equals(label)) return k;
            return null;
        }
    }

    /** A validated port: everything needed to open it. */
    public record Port(String id, Kind kind, VmKey key, List<Integer> ips, InetSocketAddress local, InetSocketAddress remote,
                       String device, boolean standby, long migration, Path qmp, Path socket, PortPolicy policy, boolean offload,
                       String domain) {

        /** Opens the socket or device; IOException or {@link TapPort.TapException} naming it when it cannot. */
        public PolledPort open() throws IOException {
            return switch (kind) {
                case QEMU_SOCKET -> new QemuSocketPort(key, id, ips, policy, local, remote);
                case TAP -> new TapPort(key, id, ips, policy, device, offload);
                case VHOST_USER -> new VhostUserPort(key, id, ips, policy, socket, offload);
            };
        }
    }

    /**
     * Parses the flag form {@code id=web1,type=qemu-socket,vni=100,mac=52:54:00:00:00:01,ips=198.18.0.1;198.18.0.9,local=...,remote=...}.
     * Unknown keys are refused naming {@code where}.
     */
    public static PortSpec parseFlag(String text, String where) {
        Map<String, String> kv = new LinkedHashMap<>();
        for (String part : text.split(",")) {
            if (part.isBlank()) continue;
            int eq = part.indexOf('=');
            if (eq <= 0) throw new ConfigException(where + ": '" + part + "' is not key=value");
            kv.put(part.substring(0, eq).trim(), part.substring(eq + 1).trim());
        }
        List<String> fields = Arrays.stream(PortSpec.class.getRecordComponents()).map(RecordComponent::getName).toList();
        for (String k : kv.keySet()) {
            if (!fields.contains(k)) throw new ConfigException(where + "." + k + ": unknown field");
        }
        return new PortSpec(kv.get("id"), kv.get("type"), kv.containsKey("vni") ? Addresses.integer(kv.get("vni"), where + ".vni") : null,
                kv.get("mac"), kv.containsKey("ips") ? List.of(kv.get("ips").split(";")) : null, kv.get("local"), kv.get("remote"),
                kv.get("device"), kv.containsKey("standby") ? Boolean.parseBoolean(kv.get("standby")) : null,
                kv.containsKey("migration") ? (long) Addresses.integer(kv.get("migration"), where + ".migration") : null,
                kv.get("qmp"), kv.get("socket"), kv.containsKey("mtu") ? Addresses.integer(kv.get("mtu"), where + ".mtu") : null,
                kv.containsKey("security") ? onOff(kv.get("security"), where + ".security") : null,
                kv.containsKey("offload") ? onOff(kv.get("offload"), where + ".offload") : null, kv.get("domain"));
    }

    /** This port as a migration's paused incoming copy, its migration's id to be learnt from the source's agent. */
    public PortSpec asStandby() {
        return new PortSpec(id, type, vni, mac, ips, local, remote, device, Boolean.TRUE, null, qmp, socket, mtu, security, offload, domain);
    }

    /** "true", "on", "yes" or their opposites; a {@link ConfigException} naming {@code where} otherwise. */
    public static boolean onOff(String text, String where) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "true", "on", "yes" -> true;
            case "false", "off", "no" -> false;
            default -> throw new ConfigException(where + ": '" + text + "' is not true or false");
        };
    }

    /** The port, or a {@link ConfigException} naming the first bad field as {@code where.field}. */
    public Port validate(String where) {
        if (id == null || id.isBlank()) throw new ConfigException(where + ".id: missing (the VM's name)");
        if (!id.matches("[A-Za-z0-9._-]{1,64}")) {
            throw new ConfigException(where + ".id: '" + id + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (type == null) throw new ConfigException(where + ".type: missing (qemu-socket, tap or vhost-user)");
        Kind kind = Kind.of(type.toLowerCase(Locale.ROOT));
        if (kind == null) throw new ConfigException(where + ".type: '" + type + "' is not qemu-socket, tap or vhost-user");
        if (vni == null) throw new ConfigException(where + ".vni: missing");
        if (vni < 0 || vni > 0xFFFFFF) throw new ConfigException(where + ".vni: " + vni + " is not in 0..16777215");
        if (mac == null) throw new ConfigException(where + ".mac: missing");
        long m = Addresses.mac(mac, where + ".mac");
        List<Integer> addresses = new ArrayList<>();
        if (ips != null) for (int i = 0; i < ips.size(); i++) addresses.add(Addresses.ipv4(ips.get(i), where + ".ips[" + i + "]"));
        InetSocketAddress l = null, r = null;
        Path vhostSocket = null;
        if (kind != Kind.QEMU_SOCKET && (local != null || remote != null)) {
            throw new ConfigException(where + "." + (local != null ? "local" : "remote") + ": only for type qemu-socket");
        }
        if (kind != Kind.TAP && device != null) throw new ConfigException(where + ".device: only for type tap");
        if (kind != Kind.VHOST_USER && socket != null) throw new ConfigException(where + ".socket: only for type vhost-user");
        if (kind != Kind.TAP && kind != Kind.VHOST_USER && offload != null) {
            throw new ConfigException(where + ".offload: only for types tap and vhost-user");
        }
        switch (kind) {
            case QEMU_SOCKET -> {
                l = Addresses.socket(local, where + ".local");
                r = Addresses.socket(remote, where + ".remote");
            }
            case TAP -> {
                if (device == null || device.isBlank()) throw new ConfigException(where + ".device: missing (the TAP device's name)");
                if (device.length() > 15 || !device.matches("[A-Za-z0-9._-]+")) {
                    throw new ConfigException(where + ".device: '" + device + "' must be 1-15 letters, digits, '.', '_' or '-'");
                }
            }
            case VHOST_USER -> {
                if (socket == null || socket.isBlank()) {
                    throw new ConfigException(where + ".socket: missing (the path of QEMU's vhost-user socket)");
                }
                if (socket.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
                    throw new ConfigException(where + ".socket: longer than the 107 bytes a Unix socket path may have");
                }
                vhostSocket = Path.of(socket);
            }
        }
        String libvirtDomain = null;
        if (domain != null) {
            if (!domain.matches("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")) {
                throw new ConfigException(where + ".domain: '" + domain + "' is not a libvirt domain's UUID");
            }
            if (qmp != null) throw new ConfigException(where + ".domain: not with qmp (one detector follows a VM: libvirt's or QEMU's)");
            libvirtDomain = domain.toLowerCase(Locale.ROOT);
        }
        Path qmpSocket = null;
        if (qmp != null) {
            if (qmp.isBlank()) throw new ConfigException(where + ".qmp: empty (the path of a QMP socket of the VM's QEMU)");
            if (standby != null || migration != null) {
                throw new ConfigException(where + "." + (standby != null ? "standby" : "migration")
                        + ": not with qmp (the agent learns from QEMU whether the copy is a standby, and every step)");
            }
            qmpSocket = Path.of(qmp);
        }
        boolean isStandby = standby != null && standby;
        // A standby without an id learns its migration's from the source's agent (design §7).
        if (isStandby && migration != null && migration <= 0) {
            throw new ConfigException(where + ".migration: " + migration + " is not a migration id (a positive number)");
        }
        if (!isStandby && migration != null) throw new ConfigException(where + ".migration: only for a standby port");
        if (mtu != null && PortPolicy.mtuProblem(mtu) != null) throw new ConfigException(where + ".mtu: " + PortPolicy.mtuProblem(mtu));
        PortPolicy defaults = PortPolicy.defaultsFor(addresses);
        PortPolicy policy = new PortPolicy(mtu == null ? defaults.mtu() : mtu, security == null ? defaults.portSecurity() : security);
        return new Port(id, kind, new VmKey(vni, m), List.copyOf(addresses), l, r, device, isStandby,
                migration == null ? 0 : migration, qmpSocket, vhostSocket, policy, offload == null || offload, libvirtDomain);
    }
}
