package dev.ferry.agent;

/**
 * The demo's second baseline: the destination registers as soon as the migration starts, while its
 * copy is still paused, so frames go to a VM that cannot read them until it resumes; an aborted
 * migration points the record back at the source.
 */
final class EagerMode extends BaselineMode {
    EagerMode(BoardSync board, Migrations.Ports ports) {
        super(board, ports);
    }

    @Override
    void onStep(VirtualNetwork net, MigrationEvent event, long now) {
        if (event instanceof MigrationEvent.StandbyAppeared s) {
            LocalPort port = ports.plug(s.port());
            board.attach(port.key(), port.port, true, now);
        } else if (event instanceof MigrationEvent.Aborted a) {
            LocalPort port = net.ports.get(a.mac());
            if (port != null) board.attach(port.key(), port.port, true, now);
        }
    }
}
