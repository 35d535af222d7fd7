package dev.timerkernel.client;

import java.util.Objects;
import java.util.Optional;

/**
 * What became of one item of {@code batchCreateTimers}: the status a single create would have
 * answered, with the timer or the error.
 */
public final class BatchCreateResult {
    private final int status;
    private final Timer timer;
    private final ApiException error;

    /**
     * @param status 201 (created), 200 (the same timer existed), or an error status
     * @param timer the timer, or null for an error
     * @param error the error, or null for a timer
     */
    public BatchCreateResult(int status, Timer timer, ApiException error) {
        if ((timer == null) == (error == null)) {
            throw new IllegalArgumentException("a result has either a timer or an error");
        }

        this.status = status;
        this.timer = timer;
        this.error = error;
    }

    /**
     * @return the item's status: 201, 200, or that of its error (409, 400, 413, ...)
     */
    public int status() {
        return status;
    }

    /**
     * @return whether the item made a new timer (status 201)
     */
    public boolean created() {
        return status == 201;
    }

    /**
     * @return whether the item holds a timer, new or existing
     */
    public boolean succeeded() {
        return timer != null;
    }

    /**
     * @return the timer, new or the identical one that existed; empty for an error
     */
    public Optional<Timer> timer() {
        return Optional.ofNullable(timer);
    }

    /**
     * The item's error, of the subclass a single create would have thrown (an {@link
     * AlreadyExistsException} for a conflict, for instance). It is returned, never thrown.
     *
     * @return the error; empty when the item holds a timer
     */
    public Optional<ApiException> error() {
        return Optional.ofNullable(error);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof BatchCreateResult)) {
            return false;
        }

        BatchCreateResult that = (BatchCreateResult) other;
        return status == that.status && Objects.equals(timer, that.timer) && Objects.equals(error, that.error);
    }

    @Override
    public int hashCode() {
        return Objects.hash(status, timer, error);
    }

    @Override
    public String toString() {
        return "BatchCreateResult{status=" + status + (timer != null ? ", timer=" + timer : ", error=" + error) + "}";
    }
}
