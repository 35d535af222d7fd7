package dev.timerkernel.client;

import java.util.Objects;

/** One bad field of a request, as an {@link InvalidArgumentException} names it. */
public final class FieldViolation {
    private final String field;
    private final String reason;

    /**
     * @param field the field's dotted path, such as {@code callback.url}
     * @param reason why the server refused it
     */
    public FieldViolation(String field, String reason) {
        this.field = Objects.requireNonNull(field, "field");
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    /**
     * @return the field's dotted path, such as {@code callback.url}
     */
    public String field() {
        return field;
    }

    /**
     * @return why the server refused the field
     */
    public String reason() {
        return reason;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof FieldViolation)) {
            return false;
        }

        FieldViolation that = (FieldViolation) other;
        return field.equals(that.field) && reason.equals(that.reason);
    }

    @Override
    public int hashCode() {
        return Objects.hash(field, reason);
    }

    @Override
    public String toString() {
        return field + ": " + reason;
    }
}
