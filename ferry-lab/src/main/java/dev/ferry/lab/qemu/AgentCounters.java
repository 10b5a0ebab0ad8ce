package dev.ferry.lab.qemu;

import dev.ferry.service.AgentStatus;

/** What the labs print of an agent after a run. */
public final class AgentCounters {
    private AgentCounters() {}

    /** An agent's line of the lab's report: its migration, relay and drop counters and its ports' drops, where not zero. */
    public static String summary(AgentStatus status) {
        StringBuilder nonzero = new StringBuilder();
        status.counters().forEach((name, value) -> {
            if (value != 0 && (name.startsWith("drop_") || name.startsWith("migrations_") || name.equals("relayed")
                    || name.equals("taken_back") || name.equals("buffered") || name.equals("vm_rings_behind"))) {
                nonzero.append(' ').append(name).append('=').append(value);
            }
        });
        for (var p : status.ports()) {
            if (p.inDropped() + p.outDropped() > 0) {
                nonzero.append(" port_").append(p.id()).append("_dropped=").append(p.inDropped()).append('/').append(p.outDropped());
            }
            if (p.nudges() > 0) nonzero.append(" port_").append(p.id()).append("_nudges=").append(p.nudges());
            if (p.superFramesIn() + p.superFramesOut() > 0) {
                nonzero.append(" port_").append(p.id()).append("_super_frames=").append(p.superFramesIn()).append('/').append(p.superFramesOut());
            }
        }
        return "agent " + status.hostId() + ":" + (nonzero.length() == 0 ? " nothing migrated or dropped" : nonzero);
    }
}
