package dev.timerkernel.client.it;

import java.time.Duration;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** Bounded polling for what the server does in the background. */
final class Await {
    private Await() {}

    static <T> T until(Duration within, Supplier<T> read, Predicate<T> done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        T last = read.get();
        while (!done.test(last)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " not within " + within.getSeconds() + " s; last seen: " + last);
            }

            Thread.sleep(100);
            last = read.get();
        }

        return last;
    }
}
