package dev.timerkernel.client.examples;

import dev.timerkernel.client.CallbackDelivery;
import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.RescheduleAnswer;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import dev.timerkernel.client.WebhookHandler;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntConsumer;

/** A recurring job: each delivery runs the job and answers with the time of the next run. */
public final class RecurringJobExample {
    private RecurringJobExample() {}

    /** The payload the job carries from one run to the next. */
    public static final class Run {
        public int number;
    }

    /** Schedules the first run now; the receiver's answers schedule the rest. */
    public static Timer startReport(TimerClient client, String reportId, String callbackUrl) {
        return client.createTimer(
                "reports",
                CreateTimerRequest.builder()
                        .id("report-" + reportId)
                        .delay(Duration.ZERO)
                        .callbackUrl(callbackUrl)
                        .payload(Map.of("number", 1))
                        .build());
    }

    /** Runs the report, then asks to be called again after {@code every}, with the next number. */
    public static WebhookHandler.Listener reportEvery(Duration every, IntConsumer report) {
        return (CallbackDelivery delivery) -> {
            Run run = delivery.payloadAs(Run.class);
            report.accept(run.number);
            return Optional.of(RescheduleAnswer.builder()
                    .nextDelay(every)
                    .payload(Map.of("number", run.number + 1))
                    .build());
        };
    }
}
