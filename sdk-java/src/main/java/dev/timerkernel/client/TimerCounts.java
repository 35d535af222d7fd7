package dev.timerkernel.client;

import java.util.Objects;

/** How many timers of a namespace are in each status. */
public final class TimerCounts {
    private final long scheduled;
    private final long succeeded;
    private final long failed;

    /**
     * @param scheduled the number of scheduled timers
     * @param succeeded the number of succeeded timers
     * @param failed the number of failed timers
     */
    public TimerCounts(long scheduled, long succeeded, long failed) {
        this.scheduled = scheduled;
        this.succeeded = succeeded;
        this.failed = failed;
    }

    /**
     * @return the number of scheduled timers
     */
    public long scheduled() {
        return scheduled;
    }

    /**
     * @return the number of succeeded timers
     */
    public long succeeded() {
        return succeeded;
    }

    /**
     * @return the number of failed timers
     */
    public long failed() {
        return failed;
    }

    /**
     * @return the number of timers in all
     */
    public long total() {
        return scheduled + succeeded + failed;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof TimerCounts)) {
            return false;
        }

        TimerCounts that = (TimerCounts) other;
        return scheduled == that.scheduled && succeeded == that.succeeded && failed == that.failed;
    }

    @Override
    public int hashCode() {
        return Objects.hash(scheduled, succeeded, failed);
    }

    @Override
    public String toString() {
        return "TimerCounts{scheduled=" + scheduled + ", succeeded=" + succeeded + ", failed=" + failed + "}";
    }
}
