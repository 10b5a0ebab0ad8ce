package dev.ferry.agent;

import dev.ferry.board.VmKey;

/**
 * The demo's second baseline: the destination registers as soon as the migration starts, while its
 * copy is still paused, so frames go to a VM that cannot read them until it resumes; an aborted
 * migration points the record back at the source.
 */
final class EagerMode implements ModePolicy {
    private final BoardSync board;
    private final Migrations.Ports ports;

    EagerMode(BoardSync board, Migrations.Ports ports) {
        this.board = board;
        this.ports = ports;
    }

    @Override
    public void onEvent(VirtualNetwork net, MigrationEvent event, long now) {
        switch (event) {
            case MigrationEvent.StandbyAppeared s -> {
                LocalPort port = ports.plug(s.port());
                board.attach(port.key(), port.port, true, now);
            }
            case MigrationEvent.Aborted a -> {
                LocalPort port = net.ports.get(a.mac());
                if (port != null) board.attach(port.key(), port.port, true, now);
            }
            case MigrationEvent.StandbyGone g -> {
                ports.unplug(new VmKey(g.vni(), g.mac()));
                board.detach(new VmKey(g.vni(), g.mac()), true, now);
            }
            case MigrationEvent.SourceGone g -> ports.unplug(new VmKey(g.vni(), g.mac()));
            case MigrationEvent.Started s -> { }
            case MigrationEvent.SourceStopped s -> { }
            case MigrationEvent.DestinationResumed r -> { }
        }
    }

    @Override public boolean relaysStaleFrames() { return false; }
    @Override public boolean marksPathChanges() { return false; }
}
