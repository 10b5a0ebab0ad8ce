package dev.ferry.agent;

/**
 * The demo's first baseline: no protocol. The board learns the new location when the destination
 * resumes; nothing is locked, buffered or relayed, so frames sent to the stopped source or to the
 * old location are lost.
 */
final class NaiveMode implements ModePolicy {
    private final BoardSync board;
    private final Migrations.Ports ports;

    NaiveMode(BoardSync board, Migrations.Ports ports) {
        this.board = board;
        this.ports = ports;
    }

    @Override
    public void onEvent(VirtualNetwork net, MigrationEvent event, long now) {
        switch (event) {
            case MigrationEvent.StandbyAppeared s -> ports.plug(s.port());
            case MigrationEvent.DestinationResumed r -> {
                LocalPort port = net.ports.get(r.mac());
                if (port != null) board.attach(port.key(), port.port, true, now);
            }
            case MigrationEvent.StandbyGone g -> {
                ports.unplug(new dev.ferry.board.VmKey(g.vni(), g.mac()));
                board.detach(new dev.ferry.board.VmKey(g.vni(), g.mac()), true, now);
            }
            case MigrationEvent.SourceGone g -> ports.unplug(new dev.ferry.board.VmKey(g.vni(), g.mac()));
            case MigrationEvent.Started s -> { }
            case MigrationEvent.SourceStopped s -> { }
            case MigrationEvent.Aborted a -> { }
        }
    }

    @Override public boolean relaysStaleFrames() { return false; }
    @Override public boolean marksPathChanges() { return false; }
}
