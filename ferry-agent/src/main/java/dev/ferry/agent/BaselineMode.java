package dev.ferry.agent;

import dev.ferry.board.VmKey;

/**
 * What the demo's baselines share: no MARKERs, no relaying, and a standby that goes, or a source
 * that is gone, simply unplugged (the standby detached). Each baseline adds how it tells the board
 * that the VM moved.
 */
abstract sealed class BaselineMode implements ModePolicy permits NaiveMode, EagerMode {
    final BoardSync board;
    final Migrations.Ports ports;

    BaselineMode(BoardSync board, Migrations.Ports ports) {
        this.board = board;
        this.ports = ports;
    }

    @Override
    public final void onEvent(VirtualNetwork net, MigrationEvent event, long now) {
        VmKey key = new VmKey(event.vni(), event.mac());
        switch (event) {
            case MigrationEvent.StandbyGone g -> {
                ports.unplug(key);
                board.detach(key, true, now);
            }
            case MigrationEvent.SourceGone g -> ports.unplug(key);
            default -> onStep(net, event, now);
        }
    }

    /** Every other step of a migration. */
    abstract void onStep(VirtualNetwork net, MigrationEvent event, long now);

    @Override public final boolean relaysStaleFrames() { return false; }
    @Override public final boolean marksPathChanges() { return false; }
}
