package dev.timerkernel.client.examples;

import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import java.time.Duration;
import java.util.Map;

/** The README's quick start: one client, one timer. */
public final class QuickStart {
    private QuickStart() {}

    public static Timer run(String baseUrl, String callbackUrl) {
        TimerClient client = TimerClient.builder()
                .baseUrl(baseUrl) // "http://127.0.0.1:8080" unless set
                .timeout(Duration.ofSeconds(10))
                .build();

        Timer timer = client.createTimer(
                "demo",
                CreateTimerRequest.builder()
                        .id("order-1234-reminder")
                        .delay(Duration.ofSeconds(30))
                        .callbackUrl(callbackUrl)
                        .payload(Map.of("order", 1234, "kind", "reminder"))
                        .build());

        System.out.println(timer.status() + " at " + timer.fireAt() + ", version " + timer.version());
        return timer;
    }
}
