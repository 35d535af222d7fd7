package dev.timerkernel.client;

import java.util.Objects;

/** A namespace and the counts of its timers, as {@code listNamespaces} reports them. */
public final class Namespace {
    private final String name;
    private final TimerCounts counts;

    /**
     * @param name the namespace's name
     * @param counts the counts of its timers by status
     */
    public Namespace(String name, TimerCounts counts) {
        this.name = Objects.requireNonNull(name, "name");
        this.counts = Objects.requireNonNull(counts, "counts");
    }

    /**
     * @return the namespace's name
     */
    public String name() {
        return name;
    }

    /**
     * @return the counts of its timers by status
     */
    public TimerCounts counts() {
        return counts;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Namespace)) {
            return false;
        }

        Namespace that = (Namespace) other;
        return name.equals(that.name) && counts.equals(that.counts);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, counts);
    }

    @Override
    public String toString() {
        return "Namespace{name=" + name + ", counts=" + counts + "}";
    }
}
