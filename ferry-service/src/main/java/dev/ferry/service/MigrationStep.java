package dev.ferry.service;

import java.util.Locale;

/**
 * The API detector's steps (design §7), as a hypervisor hook or an orchestrator reports them with
 * {@code ferry ctl migrate STEP}: {@code begin} and {@code stopped} on the source's agent,
 * {@code resumed} on the destination's, {@code abort} on either. A standby copy appears on the
 * destination with {@code ferry ctl port add --standby}, and the source copy goes with
 * {@code ferry ctl port remove}.
 */
public enum MigrationStep {
    BEGIN, STOPPED, RESUMED, ABORT;

    public static MigrationStep parse(String text) {
        try {
            return valueOf(text.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("step: '" + text + "' is not begin, stopped, resumed or abort");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
