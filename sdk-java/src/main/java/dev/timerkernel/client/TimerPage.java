package dev.timerkernel.client;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** One page of {@code listTimers}: timers in {@code fire_at}, then id, order. */
public final class TimerPage {
    private final List<Timer> timers;
    private final String nextPageToken;

    /**
     * @param timers the page's timers
     * @param nextPageToken the token of the next page, or null on the last page
     */
    public TimerPage(List<Timer> timers, String nextPageToken) {
        this.timers = List.copyOf(timers);
        this.nextPageToken = nextPageToken;
    }

    /**
     * @return the page's timers
     */
    public List<Timer> timers() {
        return timers;
    }

    /**
     * @return the token to pass as {@link ListTimersRequest.Builder#pageToken(String)} for the
     *     next page, with the same filters; empty on the last page
     */
    public Optional<String> nextPageToken() {
        return Optional.ofNullable(nextPageToken);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof TimerPage)) {
            return false;
        }

        TimerPage that = (TimerPage) other;
        return timers.equals(that.timers) && Objects.equals(nextPageToken, that.nextPageToken);
    }

    @Override
    public int hashCode() {
        return Objects.hash(timers, nextPageToken);
    }

    @Override
    public String toString() {
        return "TimerPage{timers=" + timers + ", nextPageToken=" + nextPageToken + "}";
    }
}
