package dev.timerkernel.client.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.timerkernel.client.CallbackDelivery;
import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.ListTimersRequest;
import dev.timerkernel.client.NotFoundException;
import dev.timerkernel.client.RetryPolicy;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import dev.timerkernel.client.TimerStatus;
import dev.timerkernel.client.examples.ListingExample;
import dev.timerkernel.client.examples.PaymentTimeoutExample;
import dev.timerkernel.client.examples.QuickStart;
import dev.timerkernel.client.examples.RecurringJobExample;
import dev.timerkernel.client.examples.ReminderExample;
import dev.timerkernel.client.examples.SignedReceiverExample;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's examples, run against the real server. */
@ExtendWith(TimerServer.class)
class ExamplesIT {
    // The receivers bind a port of the system's choosing, so no two runs race for one.
    private static final int ANY_PORT = 0;

    private TimerServer server;
    private TimerClient client;
    private String unique;

    @BeforeEach
    void connect(TimerServer server) {
        this.server = server;
        client = server.client();
        unique = UUID.randomUUID().toString().substring(0, 8);
    }

    @Test
    void the_quick_start_creates_its_timer() {
        Timer timer = QuickStart.run(server.baseUrl(), "http://127.0.0.1:9/never");

        assertEquals("order-1234-reminder", timer.id());
        assertEquals(TimerStatus.SCHEDULED, timer.status());
        client.deleteTimer("demo", "order-1234-reminder");
    }

    @Test
    void the_reminder_fires_a_day_later_and_is_created_once() {
        Instant before = Instant.now();

        Timer reminder = ReminderExample.remindAboutUnpaidOrder(client, unique, "http://127.0.0.1:9/never");
        Timer again = ReminderExample.remindAboutUnpaidOrder(client, unique, "http://127.0.0.1:9/never");

        Duration ahead = Duration.between(before, reminder.fireAt());
        assertTrue(
                ahead.compareTo(Duration.ofHours(24)) >= 0
                        && ahead.compareTo(Duration.ofHours(24).plusMinutes(1)) < 0,
                ahead.toString());
        assertEquals(reminder.id(), again.id());
        assertEquals(1, again.version());
        assertEquals(Map.of("order", unique, "kind", "unpaid-reminder"), reminder.payload());
    }

    @Test
    void the_payment_timeout_is_cancelled_when_the_payment_finishes() {
        PaymentTimeoutExample payments = new PaymentTimeoutExample(client, "http://127.0.0.1:9/never");

        payments.paymentStarted(unique);
        assertEquals(
                TimerStatus.SCHEDULED,
                client.getTimer("payments", "payment-" + unique + "-timeout").status());
        payments.paymentFinished(unique);
        payments.paymentFinished(unique);

        assertThrows(NotFoundException.class, () -> client.getTimer("payments", "payment-" + unique + "-timeout"));
    }

    @Test
    void the_recurring_job_runs_again_and_again_until_deleted() throws Exception {
        BlockingQueue<Integer> runs = new LinkedBlockingQueue<>();
        HttpServer receiver = SignedReceiverExample.serve(
                ANY_PORT, server.secret(), RecurringJobExample.reportEvery(Duration.ofSeconds(1), runs::add));
        try {
            String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hooks/timers";
            RecurringJobExample.startReport(client, unique, url);

            for (int expected = 1; expected <= 3; expected++) {
                assertEquals(expected, runs.poll(15, TimeUnit.SECONDS), "run " + expected);
            }

            client.deleteTimer("reports", "report-" + unique);
        } finally {
            receiver.stop(0);
        }
    }

    @Test
    void the_signed_receiver_takes_a_real_delivery() throws Exception {
        List<CallbackDelivery> seen = new CopyOnWriteArrayList<>();
        HttpServer receiver = SignedReceiverExample.serve(ANY_PORT, server.secret(), delivery -> {
            seen.add(delivery);
            return Optional.empty();
        });
        try {
            String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hooks/timers";
            client.createTimer(
                    "receivers",
                    CreateTimerRequest.builder()
                            .id("signed-" + unique)
                            .delay(Duration.ZERO)
                            .callbackUrl(url)
                            .build());

            Timer done = Await.until(
                    Duration.ofSeconds(15),
                    () -> client.getTimer("receivers", "signed-" + unique),
                    timer -> timer.status() == TimerStatus.SUCCEEDED,
                    "the signed delivery");

            assertEquals(1, seen.size());
            assertEquals(done.fireAt(), seen.get(0).fireAt());
            assertEquals("signed-" + unique, seen.get(0).id());
        } finally {
            receiver.stop(0);
        }
    }

    @Test
    void failed_timers_are_rearmed() throws Exception {
        String namespace = "it-" + unique;
        for (int i = 1; i <= 5; i++) {
            // Port 9 refuses the connection, and one attempt is all the policy allows.
            client.createTimer(
                    namespace,
                    CreateTimerRequest.builder()
                            .id("job-" + i)
                            .delay(Duration.ZERO)
                            .callbackUrl("http://127.0.0.1:9/refused")
                            .retryPolicy(RetryPolicy.builder().maxAttempts(1).build())
                            .build());
        }

        Await.until(
                Duration.ofSeconds(15),
                () -> client.listTimers(
                                namespace,
                                ListTimersRequest.builder()
                                        .status(TimerStatus.FAILED)
                                        .build())
                        .timers()
                        .size(),
                failed -> failed == 5,
                "five failed timers");

        int rearmed = ListingExample.retryFailedTimers(client, namespace);

        assertEquals(5, rearmed);
        for (int i = 1; i <= 5; i++) {
            Timer timer = client.getTimer(namespace, "job-" + i);
            assertEquals(TimerStatus.SCHEDULED, timer.status());
            assertEquals(0, timer.attempts());
            client.deleteTimer(namespace, timer.id());
        }
    }
}
