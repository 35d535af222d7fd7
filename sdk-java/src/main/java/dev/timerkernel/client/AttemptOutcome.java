package dev.timerkernel.client;

/** What came of one delivery attempt. */
public enum AttemptOutcome {
    /** Delivered; the timer finished. */
    SUCCEEDED("succeeded"),
    /** Delivered, and the callback's answer rescheduled the timer. */
    RESCHEDULED("rescheduled"),
    /** Not delivered; {@link Attempt#error()} says why. */
    FAILED("failed"),
    /** An outcome this version of the SDK does not know, sent by a newer server. */
    UNKNOWN("unknown");

    private final String wireName;

    AttemptOutcome(String wireName) {
        this.wireName = wireName;
    }

    /**
     * @return the name the API uses, such as {@code rescheduled}
     */
    public String wireName() {
        return wireName;
    }

    static AttemptOutcome fromWire(String name) {
        for (AttemptOutcome outcome : values()) {
            if (outcome != UNKNOWN && outcome.wireName.equals(name)) {
                return outcome;
            }
        }

        return UNKNOWN;
    }
}
