package dev.ferry.lab;

/** What one scenario run measured, summed over its flows and agents, and where what it lost went. */
public record Report(String mode, int migrations, int aborted, long sent, long delivered, long lost, long duplicated,
                     long reordered, double longestGapMs, long relayed, long buffered, long markerWaitsExpired,
                     int migrationEntriesLeft, LossAccount loss) {

    /** Zero lost, duplicated or reordered frames. */
    public boolean lossless() {
        return lost == 0 && duplicated == 0 && reordered == 0;
    }
}
