package dev.timerkernel.client.examples;

import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import java.time.Duration;
import java.util.Map;

/** A reminder 24 hours from now. */
public final class ReminderExample {
    private ReminderExample() {}

    /**
     * The id names the order, so calling this twice for one order (after a crash, say) finds
     * the timer the first call made instead of scheduling a second reminder.
     */
    public static Timer remindAboutUnpaidOrder(TimerClient client, String orderId, String callbackUrl) {
        return client.createTimer(
                "shop",
                CreateTimerRequest.builder()
                        .id("order-" + orderId + "-reminder")
                        .delay(Duration.ofHours(24))
                        .callbackUrl(callbackUrl)
                        .payload(Map.of("order", orderId, "kind", "unpaid-reminder"))
                        .build());
    }
}
