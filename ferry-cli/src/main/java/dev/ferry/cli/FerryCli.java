package dev.ferry.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ferry} command; every subcommand inherits --help and --version. */
@Command(name = "ferry", mixinStandardHelpOptions = true, versionProvider = FerryCli.Version.class, scope = CommandLine.ScopeType.INHERIT,
        description = "Overlay virtual network with lossless live migration of VMs.",
        subcommands = {DemoCommand.class, SimCommand.class, BoardCommand.class, AgentCommand.class, CtlCommand.class,
                LibvirtCommand.class, BenchCommand.class, LabCommand.class, PkiCommand.class,
                AutoComplete.GenerateCompletion.class})
public final class FerryCli {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new FerryCli()).setCaseInsensitiveEnumValuesAllowed(true);
        // "ferry generate-completion > /usr/share/bash-completion/completions/ferry" is for packagers, not in the command list.
        cli.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(true);
        return cli;
    }

    /** The version the build wrote into the jar's manifest (a build from the source tree says so). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = FerryCli.class.getPackage().getImplementationVersion();
            return new String[] {"ferry " + (version != null ? version : "(built from source, no version)"),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.home") + ")"};
        }
    }
}
