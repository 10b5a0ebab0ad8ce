package dev.ferry.wire;

/**
 * Why a frame that came with a {@link VirtioNetHeader} could not be completed or cut into segments.
 * The frame is dropped and counted under this name; the header is the guest's word (through its
 * kernel or hypervisor) and is checked against the packet itself before anything is trusted.
 */
public enum OffloadRefusal {
    /** Shorter than the header and the headers it claims, or an IP length past the frame's end. */
    TRUNCATED,
    /** A segmentation request for something other than TCP over IPv4 or IPv6 without extension headers. */
    NOT_TCP,
    /** A segmentation type this port never offered (UDP fragmentation offload). */
    UNSUPPORTED_GSO,
    /** A segment size of 0, or one whose segments would not fit a frame. */
    BAD_GSO_SIZE,
    /** A checksum to complete whose start or field lies outside the frame. */
    BAD_CHECKSUM_OFFSET;

    /** The name of this reason as a metric label: lower case with underscores. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
