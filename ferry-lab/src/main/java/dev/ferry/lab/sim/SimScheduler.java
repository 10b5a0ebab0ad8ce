package dev.ferry.lab.sim;

import java.util.PriorityQueue;

/** A simulated clock and its event queue: events run in time order, ties in the order they were scheduled. */
public final class SimScheduler {
    private record Event(long at, long seq, Runnable action) implements Comparable<Event> {
        @Override
        public int compareTo(Event o) {
            int c = Long.compare(at, o.at);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    private final PriorityQueue<Event> queue = new PriorityQueue<>();
    private long now;
    private long seq;

    public long now() {
        return now;
    }

    public void at(long at, Runnable action) {
        queue.add(new Event(Math.max(at, now), seq++, action));
    }

    /** Runs every event due up to {@code until}, then sets the clock to it. */
    public void runUntil(long until) {
        while (!queue.isEmpty() && queue.peek().at <= until) {
            Event e = queue.poll();
            now = e.at;
            e.action.run();
        }
        now = Math.max(now, until);
    }
}
