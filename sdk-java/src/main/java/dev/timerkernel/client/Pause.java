package dev.timerkernel.client;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** How the client waits between attempts; tests replace it to record waits without taking them. */
interface Pause {
    void sleep(Duration duration) throws InterruptedException;

    CompletableFuture<Void> after(Duration duration);

    Pause REAL = new Pause() {
        @Override
        public void sleep(Duration duration) throws InterruptedException {
            Thread.sleep(duration.toMillis(), duration.toNanosPart() % 1_000_000);
        }

        @Override
        public CompletableFuture<Void> after(Duration duration) {
            return CompletableFuture.runAsync(
                    () -> {}, CompletableFuture.delayedExecutor(duration.toNanos(), TimeUnit.NANOSECONDS));
        }
    };
}
