package dev.ferry.lab.sim;

/**
 * The fault model of the simulated network (DESIGN §9), all in nanoseconds and probabilities.
 * Board requests, answers and pushes may be delayed, duplicated and lost (pushes also reordered);
 * an agent-to-agent path is FIFO with any delay and loses control packets only.
 */
public record Faults(long pathDelayMin, long pathDelayMax, double controlLoss, long boardDelayMin, long boardDelayMax,
                     double boardLoss, double boardDuplicate) {

    public static Faults none() {
        return new Faults(50_000, 50_000, 0, 100_000, 100_000, 0, 0);
    }

    /** Faults chosen by the seed's random: up to 5 ms paths, 20 ms board, 20% losses and duplicates. */
    public static Faults random(java.util.Random r) {
        long pMin = 20_000 + r.nextInt(500_000);
        long bMin = 50_000 + r.nextInt(2_000_000);
        return new Faults(pMin, pMin + r.nextInt(5_000_000), r.nextDouble() * 0.2, bMin, bMin + r.nextInt(20_000_000),
                r.nextDouble() * 0.2, r.nextDouble() * 0.2);
    }
}
