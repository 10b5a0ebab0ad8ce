package dev.ferry.security;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Who a certificate speaks for in a Ferry cluster: an agent of one host, a board replica, or an
 * operator. Carried in the certificate's subject alternative names as a URI
 * ({@code urn:ferry:host:3}, {@code urn:ferry:board}, {@code urn:ferry:operator}), which is what a
 * peer checks: never a request's own fields.
 */
public sealed interface Identity {
    /** The URI scheme prefix of every Ferry identity. */
    String PREFIX = "urn:ferry:";

    /** The agent of host {@code hostId} (1..65535): it may speak for that host's VMs only. */
    record Host(int hostId) implements Identity {
        public Host {
            if (hostId < 1 || hostId > 65_535) throw new IllegalArgumentException("host id " + hostId + " is not in 1..65535");
        }

        @Override public String uri() { return PREFIX + "host:" + hostId; }
    }

    /** A board replica. */
    record Board() implements Identity {
        @Override public String uri() { return PREFIX + "board"; }
    }

    /** An operator ({@code ferry ctl}): reads everything, changes static VTEPs. */
    record Operator() implements Identity {
        @Override public String uri() { return PREFIX + "operator"; }
    }

    /** The URI the certificate carries. */
    String uri();

    /** The identity a URI names, if it is a Ferry identity. */
    static Optional<Identity> parse(String uri) {
        if (uri == null || !uri.startsWith(PREFIX)) return Optional.empty();
        String rest = uri.substring(PREFIX.length());
        return switch (rest) {
            case "board" -> Optional.of(new Board());
            case "operator" -> Optional.of(new Operator());
            default -> {
                if (!rest.startsWith("host:")) yield Optional.empty();
                try {
                    yield Optional.of(new Host(Integer.parseInt(rest.substring(5))));
                } catch (IllegalArgumentException e) {
                    yield Optional.empty();
                }
            }
        };
    }

    /**
     * The one Ferry identity of {@code certificate}; empty when it names none, or more than one (a
     * certificate that could speak for two hosts speaks for none).
     */
    static Optional<Identity> of(X509Certificate certificate) {
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return Optional.empty();
        }
        if (names == null) return Optional.empty();
        Identity found = null;
        for (List<?> name : names) {
            // GeneralName type 6: uniformResourceIdentifier.
            if (name.size() < 2 || !Integer.valueOf(6).equals(name.get(0))) continue;
            Optional<Identity> id = parse(String.valueOf(name.get(1)));
            if (id.isEmpty()) continue;
            if (found != null) return Optional.empty();
            found = id.get();
        }
        return Optional.ofNullable(found);
    }
}
