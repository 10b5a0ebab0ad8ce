package dev.ferry.service;

/** A refused configuration; the message starts with the field at fault ({@code ports[1].mac: ...}). */
public final class ConfigException extends IllegalArgumentException {
    public ConfigException(String message) {
        super(message);
    }
}
