package dev.timerkernel.client.examples;

import dev.timerkernel.client.ListTimersRequest;
import dev.timerkernel.client.PreconditionFailedException;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import dev.timerkernel.client.TimerStatus;
import dev.timerkernel.client.TimerUpdate;
import java.time.Duration;

/** Every page of a listing, and updates that lose to a concurrent change instead of undoing it. */
public final class ListingExample {
    private ListingExample() {}

    /** Re-arms every failed timer of a namespace to fire in a minute, unless it changed meanwhile. */
    public static int retryFailedTimers(TimerClient client, String namespace) {
        ListTimersRequest failed = ListTimersRequest.builder()
                .status(TimerStatus.FAILED)
                .limit(200)
                .build();
        int rearmed = 0;
        for (Timer timer : client.iterateTimers(namespace, failed)) {
            try {
                client.updateTimer(
                        namespace,
                        timer.id(),
                        TimerUpdate.builder().delay(Duration.ofMinutes(1)).build(),
                        timer.version());
                rearmed++;
            } catch (PreconditionFailedException changed) {
                // Someone changed the timer after it was listed: their change stands.
            }
        }

        return rearmed;
    }
}
