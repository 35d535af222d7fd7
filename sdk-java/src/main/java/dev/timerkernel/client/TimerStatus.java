package dev.timerkernel.client;

/** Where a timer is in its life. */
public enum TimerStatus {
    /** Waiting for its fire time, or retrying a failed delivery. */
    SCHEDULED("scheduled"),
    /** Delivered; it will not fire again unless it is updated with a new fire time. */
    SUCCEEDED("succeeded"),
    /** Its retry policy ran out; {@link Timer#lastError()} says why. */
    FAILED("failed"),
    /** A status this version of the SDK does not know, sent by a newer server. */
    UNKNOWN("unknown");

    private final String wireName;

    TimerStatus(String wireName) {
        this.wireName = wireName;
    }

    /**
     * @return the name the API uses, such as {@code scheduled}
     */
    public String wireName() {
        return wireName;
    }

    static TimerStatus fromWire(String name) {
        for (TimerStatus status : values()) {
            if (status != UNKNOWN && status.wireName.equals(name)) {
                return status;
            }
        }

        return UNKNOWN;
    }
}
