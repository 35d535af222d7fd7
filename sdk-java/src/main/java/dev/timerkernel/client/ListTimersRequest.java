package dev.timerkernel.client;

import java.time.Instant;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The filters and page of {@code listTimers}: statuses, a fire-time range ({@code fireAfter}
 * inclusive, {@code fireBefore} exclusive), an id prefix, the page size and the page token.
 *
 * <p>A page token is only valid with the filters it was made with.
 */
public final class ListTimersRequest {
    private static final ListTimersRequest ALL = new Builder().build();

    private final Set<TimerStatus> statuses;
    private final Instant fireAfter;
    private final Instant fireBefore;
    private final String idPrefix;
    private final Integer limit;
    private final String pageToken;

    private ListTimersRequest(Builder builder) {
        this.statuses = Collections.unmodifiableSet(EnumSet.copyOf(builder.statuses));
        this.fireAfter = builder.fireAfter;
        this.fireBefore = builder.fireBefore;
        this.idPrefix = builder.idPrefix;
        this.limit = builder.limit;
        this.pageToken = builder.pageToken;
    }

    /**
     * @return the request without filters: every timer, first page, the server's page size
     */
    public static ListTimersRequest all() {
        return ALL;
    }

    /**
     * @return a builder without filters
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this request's values
     */
    public Builder toBuilder() {
        Builder builder = new Builder();
        builder.statuses.addAll(statuses);
        builder.fireAfter = fireAfter;
        builder.fireBefore = fireBefore;
        builder.idPrefix = idPrefix;
        builder.limit = limit;
        builder.pageToken = pageToken;
        return builder;
    }

    /**
     * @return the statuses to list; empty for all
     */
    public Set<TimerStatus> statuses() {
        return statuses;
    }

    /**
     * @return the earliest fire time listed (inclusive)
     */
    public Optional<Instant> fireAfter() {
        return Optional.ofNullable(fireAfter);
    }

    /**
     * @return the fire time before which timers are listed (exclusive)
     */
    public Optional<Instant> fireBefore() {
        return Optional.ofNullable(fireBefore);
    }

    /**
     * @return the prefix of the ids listed
     */
    public Optional<String> idPrefix() {
        return Optional.ofNullable(idPrefix);
    }

    /**
     * @return the page size, 1 to 1000; empty for the server's default of 50
     */
    public OptionalInt limit() {
        return limit == null ? OptionalInt.empty() : OptionalInt.of(limit);
    }

    /**
     * @return the token of the page to read; empty for the first page
     */
    public Optional<String> pageToken() {
        return Optional.ofNullable(pageToken);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof ListTimersRequest)) {
            return false;
        }

        ListTimersRequest that = (ListTimersRequest) other;
        return statuses.equals(that.statuses)
                && Objects.equals(fireAfter, that.fireAfter)
                && Objects.equals(fireBefore, that.fireBefore)
                && Objects.equals(idPrefix, that.idPrefix)
                && Objects.equals(limit, that.limit)
                && Objects.equals(pageToken, that.pageToken);
    }

    @Override
    public int hashCode() {
        return Objects.hash(statuses, fireAfter, fireBefore, idPrefix, limit, pageToken);
    }

    @Override
    public String toString() {
        return "ListTimersRequest{statuses=" + statuses
                + ", fireAfter=" + fireAfter
                + ", fireBefore=" + fireBefore
                + ", idPrefix=" + idPrefix
                + ", limit=" + limit
                + ", pageToken=" + pageToken
                + "}";
    }

    /** Builds a {@link ListTimersRequest}. */
    public static final class Builder {
        private final EnumSet<TimerStatus> statuses = EnumSet.noneOf(TimerStatus.class);
        private Instant fireAfter;
        private Instant fireBefore;
        private String idPrefix;
        private Integer limit;
        private String pageToken;

        private Builder() {}

        /**
         * Lists only timers in these statuses; call it again to add more.
         *
         * @param statuses the statuses
         * @return this builder
         * @throws IllegalArgumentException for {@link TimerStatus#UNKNOWN}
         */
        public Builder status(TimerStatus... statuses) {
            for (TimerStatus status : statuses) {
                if (Objects.requireNonNull(status, "status") == TimerStatus.UNKNOWN) {
                    throw new IllegalArgumentException("UNKNOWN is not a status to filter on");
                }

                this.statuses.add(status);
            }

            return this;
        }

        /**
         * @param fireAfter the earliest fire time listed (inclusive), or null
         * @return this builder
         */
        public Builder fireAfter(Instant fireAfter) {
            this.fireAfter = fireAfter;
            return this;
        }

        /**
         * @param fireBefore the fire time before which timers are listed (exclusive), or null
         * @return this builder
         */
        public Builder fireBefore(Instant fireBefore) {
            this.fireBefore = fireBefore;
            return this;
        }

        /**
         * @param idPrefix the prefix of the ids listed, or null
         * @return this builder
         */
        public Builder idPrefix(String idPrefix) {
            this.idPrefix = idPrefix;
            return this;
        }

        /**
         * @param limit the page size, 1 to 1000
         * @return this builder
         */
        public Builder limit(int limit) {
            this.limit = limit;
            return this;
        }

        /**
         * @param pageToken the token of the page to read, from {@link
         *     TimerPage#nextPageToken()}; null for the first page
         * @return this builder
         */
        public Builder pageToken(String pageToken) {
            this.pageToken = pageToken;
            return this;
        }

        /**
         * @return the request
         */
        public ListTimersRequest build() {
            return new ListTimersRequest(this);
        }
    }
}
