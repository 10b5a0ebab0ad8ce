package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.wire.TcpSegmenter;

/**
 * Where a port's {@link TcpSegmenter} puts the segments of what its VM sent: each goes to the
 * agent as a frame of that port, at the time of the poll in progress ({@link #polling}), and is
 * counted. One per port; agent's thread only.
 */
public final class SegmentsToAgent implements TcpSegmenter.Sink {
    private Agent agent;
    private LocalPort handle;
    private long now;
    private long frames;

    /** The poll that hands segments over from now on. */
    public void polling(Agent agent, LocalPort handle, long now) {
        this.agent = agent;
        this.handle = handle;
        this.now = now;
    }

    @Override
    public void accept(byte[] b, int off, int len) {
        frames++;
        agent.onPortFrame(handle, b, off, len, now);
    }

    /** Segments handed to the agent so far. */
    public long frames() {
        return frames;
    }
}
