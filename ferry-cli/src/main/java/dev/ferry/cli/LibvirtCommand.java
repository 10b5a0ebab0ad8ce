package dev.ferry.cli;

import dev.ferry.service.PortSpec;
import dev.ferry.service.libvirt.DomainXml;
import dev.ferry.service.libvirt.LibvirtHook;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "libvirt", mixinStandardHelpOptions = true,
        description = {"VMs defined in libvirt: Ferry's ports are declared in each domain's <metadata> (README: Running with libvirt)."},
        subcommands = {LibvirtCommand.Hook.class, LibvirtCommand.Check.class})
final class LibvirtCommand {
    /** The most of a domain XML read from standard input or a file: what the agent reads. */
    static final int MAX_XML = LibvirtHook.MAX_XML;

    static String read(InputStream in) throws IOException {
        byte[] xml = in.readNBytes(MAX_XML + 1);
        if (xml.length > MAX_XML) throw new IOException("the domain XML is longer than " + MAX_XML + " bytes");
        return new String(xml, StandardCharsets.UTF_8);
    }

    @Command(name = "hook", mixinStandardHelpOptions = true,
            description = {"libvirt's QEMU hook (installed as /etc/libvirt/hooks/qemu.d/ferry): the domain XML on standard input,",
                    "plugs the domain's Ferry ports into this host's agent at prepare (a standby at migrate) and unplugs them at release."})
    static final class Hook implements Callable<Integer> {
        @Option(names = "--agent", defaultValue = "${FERRY_AGENT:-/run/ferry/agent.sock}",
                description = "The agent's admin socket (default ${DEFAULT-VALUE}; env FERRY_AGENT).")
        String agent;

        @Parameters(arity = "3..4", paramLabel = "ARG", description = "As libvirt calls the hook: DOMAIN OPERATION SUB-OPERATION EXTRA.")
        List<String> args;

        @Override
        public Integer call() {
            String xml;
            try {
                xml = read(System.in);
            } catch (IOException e) {
                System.err.println("ferry: domain " + args.getFirst() + ": " + e.getMessage());
                return 1;
            }
            // Standard output stays empty: at migrate, libvirt would take it as the domain's new XML.
            return LibvirtHook.run(args, xml, agent, System.err);
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Reads a domain XML (a file, or - for standard input: virsh dumpxml NAME | ferry libvirt check -)",
                    "and prints the Ferry ports it declares, or why the hook would refuse it."})
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", defaultValue = "-", paramLabel = "FILE", description = "The domain XML (default: standard input).")
        String file;

        @Override
        public Integer call() {
            DomainXml.Domain domain;
            try {
                String xml = file.equals("-") ? read(System.in) : read(Files.newInputStream(Path.of(file)));
                domain = DomainXml.parse(xml);
            } catch (IOException e) {
                System.err.println("ferry libvirt check: " + file + ": " + e.getMessage());
                return 2;
            } catch (IllegalArgumentException e) {
                System.err.println("ferry libvirt check: " + e.getMessage());
                return 1;
            }
            if (domain.ports().isEmpty()) {
                System.out.println("domain " + domain.name() + ": no Ferry ports (no <ferry:ports xmlns:ferry=\"" + DomainXml.NAMESPACE
                        + "\"> in its <metadata>)");
                return 0;
            }
            Table t = new Table("PORT", "VNI", "MAC", "IPS", "SOCKET", "SECURITY", "OFFLOAD", "MTU");
            for (PortSpec p : domain.ports()) {
                PortSpec.Port v = p.validate("port");
                t.row(p.id(), p.vni(), p.mac(), String.join(",", p.ips()), p.socket(), v.policy().portSecurity() ? "on" : "off",
                        v.offload() ? "on" : "off", v.policy().mtu());
            }
            System.out.print("domain " + domain.name() + (domain.uuid() != null ? " (" + domain.uuid() + ")" : "") + "\n" + t);
            return 0;
        }
    }
}
