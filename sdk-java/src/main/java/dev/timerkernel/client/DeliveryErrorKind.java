package dev.timerkernel.client;

/** Why a delivery attempt failed. */
public enum DeliveryErrorKind {
    /** The callback did not answer within its timeout. */
    TIMEOUT("timeout"),
    /** The callback could not be reached: refused connection, DNS, TLS. */
    CONNECTION("connection"),
    /** The callback answered with a status other than 2xx. */
    HTTP_STATUS("http_status"),
    /** The callback answered 2xx with a reschedule answer that is invalid. */
    INVALID_RESPONSE("invalid_response"),
    /** A kind this version of the SDK does not know, sent by a newer server. */
    UNKNOWN("unknown");

    private final String wireName;

    DeliveryErrorKind(String wireName) {
        this.wireName = wireName;
    }

    /**
     * @return the name the API uses, such as {@code http_status}
     */
    public String wireName() {
        return wireName;
    }

    static DeliveryErrorKind fromWire(String name) {
        for (DeliveryErrorKind kind : values()) {
            if (kind != UNKNOWN && kind.wireName.equals(name)) {
                return kind;
            }
        }

        return UNKNOWN;
    }
}
