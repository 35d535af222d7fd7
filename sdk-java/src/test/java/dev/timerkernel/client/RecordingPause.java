package dev.timerkernel.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Records the client's waits between attempts and returns at once, so tests take no time. */
final class RecordingPause implements Pause {
    private final List<Duration> waits = new ArrayList<>();

    @Override
    public synchronized void sleep(Duration duration) {
        waits.add(duration);
    }

    @Override
    public synchronized CompletableFuture<Void> after(Duration duration) {
        waits.add(duration);
        return CompletableFuture.completedFuture(null);
    }

    synchronized List<Duration> waits() {
        return new ArrayList<>(waits);
    }
}
