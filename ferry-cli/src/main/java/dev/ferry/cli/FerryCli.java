package dev.ferry.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ferry} command. */
@Command(name = "ferry", mixinStandardHelpOptions = true, version = "ferry 0.1.0",
        description = "Overlay virtual network with lossless live migration of VMs.",
        subcommands = {DemoCommand.class, SimCommand.class, BoardCommand.class, AgentCommand.class, CtlCommand.class,
                BenchCommand.class, LabCommand.class, PkiCommand.class})
public final class FerryCli {
    public static void main(String[] args) {
        System.exit(new CommandLine(new FerryCli()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }
}
