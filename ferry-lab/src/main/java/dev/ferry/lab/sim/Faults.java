package dev.ferry.lab.sim;

/**
 * The fault model of the simulated network (design §9), all in nanoseconds and probabilities.
 * Board requests, answers and pushes may be delayed, duplicated and lost (so reordered too); an
 * agent-to-agent path is FIFO with any delay and loses control packets. {@code dangerousLoss} is a
 * loss aimed at the messages a migration turns on (PREPARE, HANDOVER, their acknowledgements,
 * MARKERs and theirs, and the board's unlock, both ways), on top of the others. {@code dataLoss} is
 * zero in every schedule: loss on the wire is the underlay's, which no overlay can undo; it exists
 * to show that the harness sees a lost frame.
 */
public record Faults(long pathDelayMin, long pathDelayMax, double controlLoss, long boardDelayMin, long boardDelayMax,
                     double boardLoss, double boardDuplicate, double dataLoss, double dangerousLoss) {

    public static Faults none() {
        return new Faults(50_000, 50_000, 0, 100_000, 100_000, 0, 0, 0, 0);
    }

    public Faults withDataLoss(double p) {
        return new Faults(pathDelayMin, pathDelayMax, controlLoss, boardDelayMin, boardDelayMax, boardLoss, boardDuplicate, p,
                dangerousLoss);
    }

    /** Faults chosen by the seed's random: up to 5 ms paths, 20 ms board, 20% losses and duplicates. */
    public static Faults random(java.util.Random r) {
        long pMin = 20_000 + r.nextInt(500_000);
        long bMin = 50_000 + r.nextInt(2_000_000);
        return new Faults(pMin, pMin + r.nextInt(5_000_000), r.nextDouble() * 0.2, bMin, bMin + r.nextInt(20_000_000),
                r.nextDouble() * 0.2, r.nextDouble() * 0.2, 0, 0);
    }

    /** As {@link #random}, and 5-30% of the messages a migration turns on lost besides. */
    public static Faults dangerous(java.util.Random r) {
        Faults f = random(r);
        return new Faults(f.pathDelayMin, f.pathDelayMax, f.controlLoss, f.boardDelayMin, f.boardDelayMax, f.boardLoss,
                f.boardDuplicate, 0, 0.05 + r.nextDouble() * 0.25);
    }
}
