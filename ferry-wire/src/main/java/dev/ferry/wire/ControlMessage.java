package dev.ferry.wire;

import java.util.List;

/**
 * Agent-to-agent control messages. Each travels as the payload of a Geneve packet with the O bit
 * set and protocol type {@link Geneve#PROTOCOL_FERRY_CONTROL}, on the same socket as data, so that
 * it keeps its place in a path's order. The VNI of the VM concerned is the Geneve header's.
 * Messages that must arrive are retried by their sender until acknowledged; receivers treat a
 * repeated message as harmless.
 */
public sealed interface ControlMessage {

    /** Destination to source: "I hold a paused copy of {@code mac} for {@code migrationId}". */
    record Prepare(long migrationId, long mac) implements ControlMessage {}

    record PrepareAck(long migrationId, long mac) implements ControlMessage {}

    /** Destination to source: "my copy of {@code mac} runs; hand the VM's traffic over". */
    record Handover(long migrationId, long mac) implements ControlMessage {}

    /**
     * Source to destination, once the source holds the lock and has relayed its buffer: the streams
     * the migrated VM sent from the source, each with the token of the MARKER the source sent at its
     * end, so the destination can mark the same streams' first frames from the new origin; and the
     * tokens of MARKERs to the VM that the source already consumed, which the destination counts as
     * passed.
     */
    record HandoverAck(long migrationId, long mac, List<StreamToken> streams, List<Long> consumed) implements ControlMessage {
        public HandoverAck {
            streams = List.copyOf(streams);
            consumed = List.copyOf(consumed);
        }
    }

    /** The agent where a MARKER's destination VM runs tells the stream's sender that it arrived. */
    record MarkerAck(long srcMac, long dstMac, long token) implements ControlMessage {}

    /** An old location tells an origin agent that {@code mac} has moved; the receiver looks it up. */
    record LocationHint(long mac) implements ControlMessage {}

    /**
     * An agent greets another whose key it has just learned (it started, or the other did), sealed
     * under its own key of this boot: a receiver that does not know that key yet asks the board for
     * it at once, instead of sealing to an earlier process of the sender (design §7b). Carries nothing.
     */
    record Hello() implements ControlMessage {}

    /** A stream (VM to VM) whose old path ended with the MARKER carrying {@code token}. */
    record StreamToken(long dstMac, long token) {}
}
