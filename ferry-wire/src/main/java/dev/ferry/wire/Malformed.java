package dev.ferry.wire;

/**
 * Why a received packet was refused. Every refusal is counted under one of these names by the
 * receiver; a malformed packet never throws out of a receive loop.
 */
public enum Malformed {
    /** Shorter than the Geneve header, or than the options the header announces. */
    TOO_SHORT,
    /** Geneve version other than 0. */
    BAD_VERSION,
    /** An option whose length runs past the option area, or a Ferry option of the wrong size. */
    BAD_OPTION_LENGTH,
    /** A protocol type this agent does not carry (neither Ethernet nor Ferry control). */
    BAD_PROTOCOL,
    /** A Ferry option whose version this agent does not speak. */
    BAD_FERRY_VERSION,
    /** A data packet whose inner Ethernet frame is shorter than an Ethernet header. */
    TRUNCATED_FRAME,
    /** A control payload that does not decode. */
    BAD_CONTROL,
    /** A VNI this agent does not serve. */
    UNKNOWN_VNI,
    /** An option marked critical (its type's high bit, RFC 8926 §3.5) that this agent does not understand. */
    UNKNOWN_CRITICAL_OPTION,
    /**
     * A control packet (the O bit) carrying an Ethernet frame that is not a Ferry MARKER: another
     * endpoint's OAM traffic, which RFC 8926 §3.4 forbids delivering to a VM.
     */
    CONTROL_FRAME;

    /** The name of this reason as a metric label: lower case with underscores. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
