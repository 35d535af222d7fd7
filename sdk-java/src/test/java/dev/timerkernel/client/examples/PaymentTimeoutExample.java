package dev.timerkernel.client.examples;

import dev.timerkernel.client.Callback;
import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.NotFoundException;
import dev.timerkernel.client.RetryPolicy;
import dev.timerkernel.client.TimerClient;
import java.time.Duration;
import java.util.Map;

/** A timeout that fires only if the work does not finish in time. */
public final class PaymentTimeoutExample {
    private final TimerClient client;
    private final String callbackUrl;

    public PaymentTimeoutExample(TimerClient client, String callbackUrl) {
        this.client = client;
        this.callbackUrl = callbackUrl;
    }

    private static String timerId(String paymentId) {
        return "payment-" + paymentId + "-timeout";
    }

    /** The payment has 15 minutes; past that, the callback cancels the order. */
    public void paymentStarted(String paymentId) {
        client.createTimer(
                "payments",
                CreateTimerRequest.builder()
                        .id(timerId(paymentId))
                        .delay(Duration.ofMinutes(15))
                        .callback(Callback.builder()
                                .url(callbackUrl)
                                .timeout(Duration.ofSeconds(5))
                                .build())
                        .payload(Map.of("payment", paymentId))
                        .retryPolicy(RetryPolicy.builder().maxAttempts(20).build())
                        .build());
    }

    /** The payment finished in time: cancel the timeout. */
    public void paymentFinished(String paymentId) {
        try {
            client.deleteTimer("payments", timerId(paymentId));
        } catch (NotFoundException alreadyGone) {
            // Deleted by an earlier call: either way it will not fire.
        }
    }
}
