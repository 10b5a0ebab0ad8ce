package dev.ferry.board;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * The board's state in an SQLite database ({@code board.db} in the board's data directory): the node
 * table with its locks and pending updates, the hosts, the revision. Reads are served from memory;
 * the changes of one request are written in one transaction by {@link #commit}, which the board calls
 * before it answers, so nothing acknowledged is lost when the board's process or machine dies
 * (write-ahead log, {@code synchronous=FULL}).
 *
 * <p>Leases are kept in the board's clock, which restarts with the process: every commit records the
 * board's clock, and a reopened store moves each lease to the new clock with what remained of it at
 * the last commit (heartbeats renew locks and hosts, and each renewal is a commit). The time the
 * board was down does not count: no agent could renew a lease then.
 *
 * <p>Why SQLite: one file, transactions, a driver that is a well-kept jar with the native library
 * inside, and no server to run beside the board.
 */
public final class SqliteStore implements Store, AutoCloseable {
    private final Connection db;
    private final LongSupplier clock;
    private final Map<VmKey, NodeRecord> records = new LinkedHashMap<>();
    private final Map<Integer, HostRecord> hosts = new HashMap<>();
    private final Set<VmKey> dirtyRecords = new LinkedHashSet<>();
    private final Set<Integer> dirtyHosts = new LinkedHashSet<>();
    private long revision;
    private boolean dirtyRevision;

    private SqliteStore(Connection db, LongSupplier clock) {
        this.db = db;
        this.clock = clock;
    }

    /**
     * Opens (or creates) the store in {@code dir}; {@code clock} is the board's, in milliseconds. A
     * new store starts its revision at {@code firstRevision}.
     */
    public static SqliteStore open(Path dir, LongSupplier clock, long firstRevision) throws IOException {
        Files.createDirectories(dir);
        Connection db;
        try {
            db = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("board.db"));
        } catch (SQLException e) {
            throw new IOException("cannot open the board's database in " + dir + ": " + e.getMessage(), e);
        }
        SqliteStore s = new SqliteStore(db, clock);
        try {
            s.schema();
            s.load(firstRevision);
            return s;
        } catch (SQLException e) {
            s.close();
            throw new IOException("cannot read the board's database in " + dir + ": " + e.getMessage(), e);
        }
    }

    private void schema() throws SQLException {
        try (Statement st = db.createStatement()) {
            st.execute("PRAGMA journal_mode=WAL");
            st.execute("PRAGMA synchronous=FULL");
            st.execute("CREATE TABLE IF NOT EXISTS records(vni INTEGER, mac INTEGER, vm_id TEXT, ips TEXT, host_id INTEGER,"
                    + " standbys TEXT, version INTEGER, lock_migration INTEGER, lock_owner INTEGER, lock_lease INTEGER,"
                    + " lock_expires INTEGER, PRIMARY KEY (vni, mac))");
            st.execute("CREATE TABLE IF NOT EXISTS pending(vni INTEGER, mac INTEGER, seq INTEGER, kind TEXT, migration INTEGER,"
                    + " host_id INTEGER, vm_id TEXT, ips TEXT, PRIMARY KEY (vni, mac, seq))");
            st.execute("CREATE TABLE IF NOT EXISTS hosts(host_id INTEGER PRIMARY KEY, endpoint TEXT, vnis TEXT, lease INTEGER, expires INTEGER,"
                    + " underlay_key TEXT NOT NULL DEFAULT '')");
            // A database written before underlay keys existed gains the column; its hosts stay plaintext until they register again.
            boolean hasKey = false;
            try (ResultSet rs = st.executeQuery("PRAGMA table_info(hosts)")) {
                while (rs.next()) hasKey |= "underlay_key".equals(rs.getString("name"));
            }
            if (!hasKey) st.execute("ALTER TABLE hosts ADD COLUMN underlay_key TEXT NOT NULL DEFAULT ''");
            st.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER)");
        }
        db.setAutoCommit(false);
        db.commit();
    }

    private void load(long firstRevision) throws SQLException {
        Map<String, Long> meta = new HashMap<>();
        try (Statement st = db.createStatement(); ResultSet rs = st.executeQuery("SELECT key, value FROM meta")) {
            while (rs.next()) meta.put(rs.getString(1), rs.getLong(2));
        }
        long now = clock.getAsLong();
        // A lease that had r ms left at the last commit has r left now, on the new clock.
        long shift = meta.containsKey("clock_ms") ? now - meta.get("clock_ms") : 0;
        revision = meta.getOrDefault("revision", firstRevision);
        Map<VmKey, List<PendingUpdate>> pending = new HashMap<>();
        try (Statement st = db.createStatement();
             ResultSet rs = st.executeQuery("SELECT vni, mac, kind, migration, host_id, vm_id, ips FROM pending ORDER BY vni, mac, seq")) {
            while (rs.next()) {
                VmKey key = new VmKey(rs.getInt(1), rs.getLong(2));
                PendingUpdate p = rs.getString(3).equals("attach")
                        ? new PendingUpdate.Attach(rs.getLong(4), rs.getInt(5), rs.getString(6), ints(rs.getString(7)))
                        : new PendingUpdate.Detach(rs.getLong(4), rs.getInt(5));
                pending.computeIfAbsent(key, k -> new ArrayList<>()).add(p);
            }
        }
        try (Statement st = db.createStatement(); ResultSet rs = st.executeQuery("SELECT vni, mac, vm_id, ips, host_id, standbys, version,"
                + " lock_migration, lock_owner, lock_lease, lock_expires FROM records")) {
            while (rs.next()) {
                VmKey key = new VmKey(rs.getInt(1), rs.getLong(2));
                long migration = rs.getLong(8);
                Lock lock = rs.wasNull() ? null : new Lock(migration, rs.getInt(9), rs.getLong(10), rs.getLong(11) + shift);
                records.put(key, new NodeRecord(key, rs.getString(3), ints(rs.getString(4)), rs.getInt(5),
                        Set.copyOf(ints(rs.getString(6))), rs.getLong(7), lock, pending.getOrDefault(key, List.of())));
            }
        }
        try (Statement st = db.createStatement(); ResultSet rs = st.executeQuery("SELECT host_id, endpoint, vnis, lease, expires, underlay_key FROM hosts")) {
            while (rs.next()) {
                long expires = rs.getLong(5);
                if (expires != HostRecord.STATIC && expires != HostRecord.LAPSED) expires += shift;
                hosts.put(rs.getInt(1), new HostRecord(rs.getInt(1), rs.getString(2), Set.copyOf(ints(rs.getString(3))), rs.getLong(4), expires,
                        rs.getString(6)));
            }
        }
        // Leases are now on the new clock: write them so, before anything else is. Records without a
        // lock hold no time and stay as they are on disk.
        for (NodeRecord r : records.values()) if (r.lock() != null) dirtyRecords.add(r.key());
        dirtyHosts.addAll(hosts.keySet());
        dirtyRevision = true;
        commit();
    }

    @Override public NodeRecord get(VmKey key) { return records.get(key); }

    @Override
    public void put(NodeRecord record) {
        records.put(record.key(), record);
        dirtyRecords.add(record.key());
    }

    @Override
    public void remove(VmKey key) {
        records.remove(key);
        dirtyRecords.add(key);
    }

    @Override public Collection<NodeRecord> records() { return Collections.unmodifiableCollection(records.values()); }

    @Override public HostRecord host(int hostId) { return hosts.get(hostId); }

    @Override
    public void putHost(HostRecord host) {
        hosts.put(host.hostId(), host);
        dirtyHosts.add(host.hostId());
    }

    @Override public Collection<HostRecord> hosts() { return Collections.unmodifiableCollection(hosts.values()); }

    @Override public long revision() { return revision; }

    @Override
    public void revision(long revision) {
        this.revision = revision;
        dirtyRevision = true;
    }

    /**
     * Writes every change since the last commit in one transaction and waits until it is on disk.
     * Throws (and the board answers nothing) when it cannot.
     */
    @Override
    public void commit() {
        if (dirtyRecords.isEmpty() && dirtyHosts.isEmpty() && !dirtyRevision) return;
        try {
            writeRecords();
            writeHosts();
            try (PreparedStatement m = db.prepareStatement("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")) {
                meta(m, "revision", revision);
                meta(m, "clock_ms", clock.getAsLong());
                m.executeBatch();
            }
            db.commit();
            dirtyRecords.clear();
            dirtyHosts.clear();
            dirtyRevision = false;
        } catch (SQLException e) {
            try {
                db.rollback();
            } catch (SQLException ignored) {
                // the connection is gone; the error below says why
            }
            throw new UncheckedIOException(new IOException("the board's database refused a change: " + e.getMessage(), e));
        }
    }

    private void writeRecords() throws SQLException {
        if (dirtyRecords.isEmpty()) return;
        try (PreparedStatement up = db.prepareStatement("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
             PreparedStatement clear = db.prepareStatement("DELETE FROM pending WHERE vni = ? AND mac = ?");
             PreparedStatement add = db.prepareStatement("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
             PreparedStatement forget = db.prepareStatement("DELETE FROM records WHERE vni = ? AND mac = ?")) {
            for (VmKey key : dirtyRecords) {
                NodeRecord r = records.get(key);
                clear.setInt(1, key.vni());
                clear.setLong(2, key.mac());
                clear.addBatch();
                if (r == null) {
                    forget.setInt(1, key.vni());
                    forget.setLong(2, key.mac());
                    forget.addBatch();
                    continue;
                }
                up.setInt(1, key.vni());
                up.setLong(2, key.mac());
                up.setString(3, r.vmId());
                up.setString(4, text(r.ips()));
                up.setInt(5, r.hostId());
                up.setString(6, text(r.standbys()));
                up.setLong(7, r.version());
                Lock l = r.lock();
                if (l == null) {
                    for (int i = 8; i <= 11; i++) up.setNull(i, Types.INTEGER);
                } else {
                    up.setLong(8, l.migrationId());
                    up.setInt(9, l.owner());
                    up.setLong(10, l.leaseMs());
                    up.setLong(11, l.expiresAt());
                }
                up.addBatch();
                int seq = 0;
                for (PendingUpdate p : r.pending()) {
                    add.setInt(1, key.vni());
                    add.setLong(2, key.mac());
                    add.setInt(3, seq++);
                    add.setString(4, p instanceof PendingUpdate.Attach ? "attach" : "detach");
                    add.setLong(5, p.migrationId());
                    add.setInt(6, p.hostId());
                    if (p instanceof PendingUpdate.Attach a) {
                        add.setString(7, a.vmId());
                        add.setString(8, text(a.ips()));
                    } else {
                        add.setNull(7, Types.VARCHAR);
                        add.setNull(8, Types.VARCHAR);
                    }
                    add.addBatch();
                }
            }
            up.executeBatch();
            clear.executeBatch();
            add.executeBatch();
            forget.executeBatch();
        }
    }

    private void writeHosts() throws SQLException {
        if (dirtyHosts.isEmpty()) return;
        try (PreparedStatement up = db.prepareStatement("INSERT OR REPLACE INTO hosts VALUES (?, ?, ?, ?, ?, ?)")) {
            for (int id : dirtyHosts) {
                HostRecord h = hosts.get(id);
                up.setInt(1, id);
                up.setString(2, h.endpoint());
                up.setString(3, text(h.vnis()));
                up.setLong(4, h.leaseMs());
                up.setLong(5, h.expiresAt());
                up.setString(6, h.underlayKey());
                up.addBatch();
            }
            up.executeBatch();
        }
    }

    private static void meta(PreparedStatement m, String key, long value) throws SQLException {
        m.setString(1, key);
        m.setLong(2, value);
        m.addBatch();
    }

    private static String text(Collection<Integer> values) {
        return values.stream().map(String::valueOf).collect(Collectors.joining(","));
    }

    private static List<Integer> ints(String text) {
        if (text == null || text.isEmpty()) return List.of();
        return Arrays.stream(text.split(",")).map(Integer::valueOf).toList();
    }

    @Override
    public void close() {
        try {
            db.close();
        } catch (SQLException ignored) {
            // closing: nothing uncommitted was acknowledged
        }
    }
}
