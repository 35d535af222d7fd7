package dev.timerkernel.client;

/** The name and version of this SDK, as sent in the {@code User-Agent} header. */
public final class Version {
    /** The SDK's name: the product token of its {@code User-Agent}. */
    public static final String NAME = "timerkernel-java";

    /** The SDK's version, the same as the Maven artifact's. */
    public static final String VERSION = "0.1.0";

    /** The default {@code User-Agent}: {@code timerkernel-java/<version>}. */
    public static final String USER_AGENT = NAME + "/" + VERSION;

    private Version() {}
}
