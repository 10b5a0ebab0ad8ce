package dev.ferry.agent;

/**
 * The demo's first baseline: no protocol. The board learns the new location when the destination
 * resumes; nothing is locked, buffered or relayed, so frames sent to the stopped source or to the
 * old location are lost.
 */
final class NaiveMode extends BaselineMode {
    NaiveMode(BoardSync board, Migrations.Ports ports) {
        super(board, ports);
    }

    @Override
    void onStep(VirtualNetwork net, MigrationEvent event, long now) {
        if (event instanceof MigrationEvent.StandbyAppeared s) {
            ports.plug(s.port());
        } else if (event instanceof MigrationEvent.DestinationResumed r) {
            LocalPort port = net.ports.get(r.mac());
            if (port != null) board.attach(port.key(), port.port, true, now);
        }
    }
}
