package dev.timerkernel.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * 400 {@code invalid_argument}: the request was malformed, or fields were of the wrong type,
 * out of range or unknown. {@link #fieldViolations()} names each bad field.
 */
public class InvalidArgumentException extends ApiException {
    private static final long serialVersionUID = 1L;

    private final transient List<FieldViolation> fieldViolations;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code invalid_argument})
     * @param message the server's message
     * @param details the error's details, with {@code fields}
     * @param requestId the request id the server sent, or null
     */
    public InvalidArgumentException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
        this.fieldViolations = readFields(details());
    }

    /**
     * Every bad field the server named, from {@code details.fields}, in its order.
     *
     * @return the bad fields, each with its dotted path (such as {@code
     *     callback.timeout_seconds}) and reason; empty when the server named none
     */
    public List<FieldViolation> fieldViolations() {
        return fieldViolations;
    }

    private static List<FieldViolation> readFields(Map<String, Object> details) {
        Object fields = details.get("fields");
        if (!(fields instanceof List)) {
            return List.of();
        }

        List<FieldViolation> result = new ArrayList<>();
        for (Object item : (List<?>) fields) {
            if (item instanceof Map) {
                Map<?, ?> entry = (Map<?, ?>) item;
                Object field = entry.get("field");
                Object reason = entry.get("reason");
                if (field instanceof String) {
                    result.add(new FieldViolation((String) field, reason instanceof String ? (String) reason : ""));
                }
            }
        }

        return Collections.unmodifiableList(result);
    }
}
