package dev.ferry.board;

/**
 * A migration lock on a node record, held by the source agent {@code owner} for {@code migrationId}.
 * It lapses at {@code expiresAt} (board clock, ms) unless the owner's heartbeats renew it.
 */
public record Lock(long migrationId, int owner, long leaseMs, long expiresAt) {
    Lock renewed(long now) {
        return new Lock(migrationId, owner, leaseMs, now + leaseMs);
    }
}
