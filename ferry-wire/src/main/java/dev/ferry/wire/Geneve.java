package dev.ferry.wire;

/**
 * Constants of Geneve (RFC 8926) as Ferry uses it, and of Ferry's own option.
 *
 * <p>Base header, 8 bytes: {@code Ver(2) OptLen(6) | O C Rsvd(6) | Protocol Type(16) | VNI(24) Rsvd(8)},
 * then {@code OptLen} 4-byte words of options, then the payload. Ferry's option has class
 * {@link #FERRY_OPTION_CLASS} (experimental range) and type {@link #FERRY_OPTION_TYPE}; its 32 bytes of
 * data are {@code version(8) flags(8) reserved(16) | origin agent id(32) | token(64) | await token(64)
 * | via(64)}: {@code token} names the path change a MARKER ends (a data frame's carries the version of
 * the location it was sent by), {@code await} the MARKER a frame (or a MARKER) must wait behind, and
 * {@code via} the migration whose old location relayed the packet (0 when none did).
 */
public final class Geneve {
    private Geneve() {}

    /** IANA-assigned UDP destination port for Geneve. */
    public static final int DEFAULT_PORT = 6081;
    public static final int BASE_HEADER_LENGTH = 8;
    /** Protocol type of a payload that is an Ethernet frame (Transparent Ethernet Bridging). */
    public static final int PROTOCOL_ETHERNET = 0x6558;
    /** Protocol type of Ferry's agent-to-agent control payloads (IEEE local experimental EtherType). */
    public static final int PROTOCOL_FERRY_CONTROL = 0x88B5;

    public static final int FERRY_OPTION_CLASS = 0xFFF0;
    public static final int FERRY_OPTION_TYPE = 0x46;
    /** The high bit of an option's type: a receiver that does not understand the option must drop the packet (RFC 8926 §3.5). */
    public static final int CRITICAL_OPTION = 0x80;
    /** 2 added {@code via}; a version-1 packet is refused as {@link Malformed#BAD_FERRY_VERSION}. */
    public static final int FERRY_OPTION_VERSION = 2;
    /** Option header (4 bytes) plus 32 bytes of data. */
    public static final int FERRY_OPTION_LENGTH = 36;
    public static final int FERRY_OPTION_DATA_WORDS = 8;
    /** Length of every header Ferry writes: base header plus its one option. */
    public static final int FERRY_HEADER_LENGTH = BASE_HEADER_LENGTH + FERRY_OPTION_LENGTH;

    /** The frame was relayed by an old location of its destination; it is never relayed by the stale-sender rule again. */
    public static final int FLAG_FORWARDED = 0x01;
    /** The packet is a MARKER: the end of a stream's old path; its token names that path change. */
    public static final int FLAG_MARKER = 0x02;
    /** The packet travels a new path: hold it until the MARKER whose token is this packet's await token has arrived. */
    public static final int FLAG_AWAIT = 0x04;

    public static final int MAX_VNI = 0xFFFFFF;

    /**
     * Ferry's seal option, first after the base header of every datagram between agents that seal
     * their underlay (design §7b). Critical: a Geneve endpoint that cannot open it must drop the packet
     * rather than take ciphertext for a frame. Its 20 bytes of data are {@code sender key id(32) |
     * receiver key id(32) | epoch(32) | counter(64)}; the 12-byte ChaCha20-Poly1305 nonce is epoch and counter.
     * Everything before the payload (base header and every option) is authenticated; the payload is
     * encrypted and followed by the {@link #SEAL_TAG_LENGTH}-byte tag.
     */
    public static final int SEAL_OPTION_TYPE = CRITICAL_OPTION | 0x47;
    public static final int SEAL_OPTION_DATA_WORDS = 5;
    /** Option header (4 bytes) plus 20 bytes of data. */
    public static final int SEAL_OPTION_LENGTH = 24;
    public static final int SEAL_TAG_LENGTH = 16;
    /** What sealing adds to a datagram. */
    public static final int SEAL_OVERHEAD = SEAL_OPTION_LENGTH + SEAL_TAG_LENGTH;
}
