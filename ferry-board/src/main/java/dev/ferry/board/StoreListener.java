package dev.ferry.board;

import java.util.List;
import java.util.function.Supplier;

/** Hears of the changes other boards made to a store they share (see {@link Store#listen}). */
@FunctionalInterface
public interface StoreListener {
    /**
     * Others' changes have arrived. {@code apply} puts them into the store's view and returns what
     * they changed; the board calls it under its own lock, so no request sees half of them.
     */
    void changed(Supplier<Changes> apply);

    /** What one batch of others' changes did: each record and host before and after. */
    record Changes(List<Change<NodeRecord>> records, List<Change<HostRecord>> hosts) {
        public Changes {
            records = List.copyOf(records);
            hosts = List.copyOf(hosts);
        }
    }

    /** One value before ({@code null} when new) and after ({@code null} when removed) a change. */
    record Change<T>(T before, T after) {}
}
