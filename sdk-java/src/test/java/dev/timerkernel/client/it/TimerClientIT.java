package dev.timerkernel.client.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.timerkernel.client.AlreadyExistsException;
import dev.timerkernel.client.BatchCreateResult;
import dev.timerkernel.client.Callback;
import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.FieldViolation;
import dev.timerkernel.client.InvalidArgumentException;
import dev.timerkernel.client.ListTimersRequest;
import dev.timerkernel.client.Namespace;
import dev.timerkernel.client.NotFoundException;
import dev.timerkernel.client.PayloadTooLargeException;
import dev.timerkernel.client.PreconditionFailedException;
import dev.timerkernel.client.RetryPolicy;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import dev.timerkernel.client.TimerCounts;
import dev.timerkernel.client.TimerPage;
import dev.timerkernel.client.TimerStatus;
import dev.timerkernel.client.TimerUpdate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every operation of the API against the real server. */
@ExtendWith(TimerServer.class)
class TimerClientIT {
    // Nothing listens there; these timers fire hours after the test run.
    private static final String NOWHERE = "http://127.0.0.1:9/never";

    private TimerClient client;
    private String namespace;
    private Instant base;

    @BeforeEach
    void connect(TimerServer server) {
        client = server.client();
        namespace = "it-" + UUID.randomUUID().toString().substring(0, 8);
        base = Instant.now().plus(Duration.ofHours(2)).truncatedTo(ChronoUnit.SECONDS);
    }

    private CreateTimerRequest.Builder later(String id, Duration after) {
        return CreateTimerRequest.builder().id(id).fireAt(base.plus(after)).callbackUrl(NOWHERE);
    }

    @Test
    void create_get_update_and_delete_a_timer() {
        CreateTimerRequest request = CreateTimerRequest.builder()
                .id("cart-77-expiry")
                .fireAt(base.plusMillis(250))
                .callback(Callback.builder()
                        .url(NOWHERE)
                        .timeout(Duration.ofMillis(2500))
                        .header("Authorization", "Bearer cb")
                        .build())
                .payload(Map.of("cart", 77, "items", List.of("a", "b")))
                .retryPolicy(RetryPolicy.builder()
                        .maxAttempts(5)
                        .initialInterval(Duration.ofMillis(500))
                        .backoffCoefficient(3)
                        .maxInterval(Duration.ofMinutes(1))
                        .maxDuration(Duration.ofHours(1))
                        .build())
                .build();

        Timer created = client.createTimer(namespace, request);

        assertEquals(namespace, created.namespace());
        assertEquals("cart-77-expiry", created.id());
        assertEquals(base.plusMillis(250), created.fireAt());
        assertEquals(request.callback(), created.callback());
        assertEquals(request.payload(), created.payload());
        assertEquals(request.retryPolicy().orElseThrow(), created.retryPolicy());
        assertEquals(TimerStatus.SCHEDULED, created.status());
        assertEquals(0, created.attempts());
        assertEquals(Optional.of(created.fireAt()), created.nextAttemptAt());
        assertEquals(1, created.version());

        assertEquals(created, client.createTimer(namespace, request), "a repeated create answers the same timer");
        assertEquals(created, client.getTimer(namespace, "cart-77-expiry"));

        Timer unconditional = client.updateTimer(
                namespace,
                "cart-77-expiry",
                TimerUpdate.builder().payload(Map.of("cart", 78)).build());
        assertEquals(2, unconditional.version());
        assertEquals(Map.of("cart", 78), unconditional.payload());

        Timer conditional = client.updateTimer(
                namespace,
                "cart-77-expiry",
                TimerUpdate.builder().fireAt(base.plus(Duration.ofHours(1))).build(),
                2);
        assertEquals(3, conditional.version());
        assertEquals(base.plus(Duration.ofHours(1)), conditional.fireAt());

        PreconditionFailedException stale = assertThrows(
                PreconditionFailedException.class,
                () -> client.updateTimer(
                        namespace,
                        "cart-77-expiry",
                        TimerUpdate.builder().payload("stale").build(),
                        2));
        assertEquals(412, stale.status());
        assertEquals("precondition_failed", stale.code());
        assertEquals(OptionalLong.of(2), stale.expectedVersion());
        assertEquals(OptionalLong.of(3), stale.currentVersion());
        assertEquals(
                Map.of("cart", 78), client.getTimer(namespace, "cart-77-expiry").payload());

        assertThrows(PreconditionFailedException.class, () -> client.deleteTimer(namespace, "cart-77-expiry", 1));
        client.deleteTimer(namespace, "cart-77-expiry", 3);

        NotFoundException gone =
                assertThrows(NotFoundException.class, () -> client.getTimer(namespace, "cart-77-expiry"));
        assertEquals(404, gone.status());
        assertEquals("not_found", gone.code());
        assertEquals(Map.of("namespace", namespace, "id", "cart-77-expiry"), gone.details());
        assertThrows(NotFoundException.class, () -> client.deleteTimer(namespace, "cart-77-expiry"));
    }

    @Test
    void a_create_with_a_different_definition_exposes_the_existing_timer() {
        Timer first = client.createTimer(
                namespace, later("dup", Duration.ZERO).payload("first").build());

        AlreadyExistsException conflict = assertThrows(
                AlreadyExistsException.class,
                () -> client.createTimer(
                        namespace, later("dup", Duration.ZERO).payload("second").build()));

        assertEquals(409, conflict.status());
        assertEquals("already_exists", conflict.code());
        assertEquals(Optional.of(first), conflict.existing());
    }

    @Test
    void an_invalid_create_names_every_bad_field() {
        InvalidArgumentException invalid = assertThrows(
                InvalidArgumentException.class,
                () -> client.createTimer(
                        namespace,
                        CreateTimerRequest.builder()
                                .id("bad")
                                .delay(Duration.ZERO)
                                .callback(Callback.builder()
                                        .url("ftp://example.com/x")
                                        .timeout(Duration.ofMillis(10))
                                        .build())
                                .retryPolicy(
                                        RetryPolicy.builder().maxAttempts(-1).build())
                                .build()));

        assertEquals(400, invalid.status());
        assertEquals("invalid_argument", invalid.code());
        Set<String> fields =
                invalid.fieldViolations().stream().map(FieldViolation::field).collect(Collectors.toSet());
        assertEquals(Set.of("callback.url", "callback.timeout_seconds", "retry_policy.max_attempts"), fields);
        invalid.fieldViolations()
                .forEach(violation -> assertFalse(violation.reason().isEmpty()));
    }

    @Test
    void a_payload_over_the_limit_is_too_large() {
        // The server's default limit of a serialized payload is 64 KiB.
        String oversized = "x".repeat(70 * 1024);

        PayloadTooLargeException tooLarge = assertThrows(
                PayloadTooLargeException.class,
                () -> client.createTimer(
                        namespace,
                        later("big", Duration.ZERO).payload(oversized).build()));

        assertEquals(413, tooLarge.status());
        assertEquals("payload_too_large", tooLarge.code());
        assertEquals(Optional.of("payload"), tooLarge.field());
        assertThrows(NotFoundException.class, () -> client.getTimer(namespace, "big"));
    }

    @Test
    void a_missing_timer_is_not_found() {
        NotFoundException missing = assertThrows(NotFoundException.class, () -> client.getTimer(namespace, "nope"));

        assertEquals(404, missing.status());
        assertTrue(missing.errorMessage().contains("nope"), missing.errorMessage());
        assertThrows(NotFoundException.class, () -> client.listAttempts(namespace, "nope"));
        assertThrows(
                NotFoundException.class,
                () -> client.updateTimer(
                        namespace, "nope", TimerUpdate.builder().payload(1).build()));
    }

    @Test
    void batch_create_judges_each_item_alone() {
        client.createTimer(namespace, later("b", Duration.ZERO).build());

        List<BatchCreateResult> results = client.batchCreateTimers(
                namespace,
                List.of(
                        later("a", Duration.ZERO).build(),
                        later("b", Duration.ZERO).build(),
                        later("b", Duration.ZERO).payload("other").build(),
                        later("-bad", Duration.ZERO).build()));

        assertEquals(
                List.of(201, 200, 409, 400),
                results.stream().map(BatchCreateResult::status).collect(Collectors.toList()));
        assertTrue(results.get(0).created());
        assertEquals("a", results.get(0).timer().orElseThrow().id());
        assertFalse(results.get(1).created());
        assertEquals(1, results.get(1).timer().orElseThrow().version());
        AlreadyExistsException conflict = assertInstanceOf(
                AlreadyExistsException.class, results.get(2).error().orElseThrow());
        assertEquals("b", conflict.existing().orElseThrow().id());
        InvalidArgumentException invalid = assertInstanceOf(
                InvalidArgumentException.class, results.get(3).error().orElseThrow());
        assertEquals("id", invalid.fieldViolations().get(0).field());
        assertEquals("a", client.getTimer(namespace, "a").id());
    }

    @Test
    void list_applies_every_filter() {
        for (int i = 1; i <= 5; i++) {
            client.createTimer(namespace, later("f-" + i, Duration.ofHours(i)).build());
        }

        client.createTimer(namespace, later("g-1", Duration.ofHours(3)).build());

        assertEquals(
                List.of("f-1", "f-2", "f-3", "f-4", "f-5"),
                ids(client.listTimers(
                        namespace, ListTimersRequest.builder().idPrefix("f-").build())));
        assertEquals(
                List.of("f-2", "f-3", "g-1"),
                ids(client.listTimers(
                        namespace,
                        ListTimersRequest.builder()
                                .fireAfter(base.plus(Duration.ofHours(2)))
                                .fireBefore(base.plus(Duration.ofHours(4)))
                                .build())));
        assertEquals(
                List.of("g-1"),
                ids(client.listTimers(
                        namespace,
                        ListTimersRequest.builder()
                                .status(TimerStatus.SCHEDULED)
                                .idPrefix("g-")
                                .build())));
        assertEquals(
                List.of(),
                ids(client.listTimers(
                        namespace,
                        ListTimersRequest.builder()
                                .status(TimerStatus.SUCCEEDED, TimerStatus.FAILED)
                                .build())));

        TimerPage first = client.listTimers(
                namespace, ListTimersRequest.builder().limit(4).build());
        assertEquals(List.of("f-1", "f-2", "f-3", "g-1"), ids(first));
        assertTrue(first.nextPageToken().isPresent());
    }

    @Test
    void a_page_token_of_other_filters_is_refused() {
        for (int i = 1; i <= 3; i++) {
            client.createTimer(namespace, later("t-" + i, Duration.ofMinutes(i)).build());
        }

        String token = client.listTimers(
                        namespace, ListTimersRequest.builder().limit(1).build())
                .nextPageToken()
                .orElseThrow();

        InvalidArgumentException invalid = assertThrows(
                InvalidArgumentException.class,
                () -> client.listTimers(
                        namespace,
                        ListTimersRequest.builder()
                                .idPrefix("t-")
                                .limit(1)
                                .pageToken(token)
                                .build()));
        assertEquals("page_token", invalid.fieldViolations().get(0).field());
    }

    @Test
    void the_iterator_follows_every_page() {
        List<String> expected = new ArrayList<>();
        for (int i = 1; i <= 7; i++) {
            expected.add("p-" + i);
            client.createTimer(namespace, later("p-" + i, Duration.ofMinutes(i)).build());
        }

        ListTimersRequest pagesOfThree = ListTimersRequest.builder().limit(3).build();
        assertTrue(client.listTimers(namespace, pagesOfThree).nextPageToken().isPresent());

        List<String> iterated = new ArrayList<>();
        for (Timer timer : client.iterateTimers(namespace, pagesOfThree)) {
            iterated.add(timer.id());
        }

        assertEquals(expected, iterated);
        assertEquals(
                expected,
                client.streamTimers(namespace, pagesOfThree).map(Timer::id).collect(Collectors.toList()));
    }

    @Test
    void namespaces_are_listed_with_their_counts() {
        client.createTimer(namespace, later("n-1", Duration.ZERO).build());
        client.createTimer(namespace, later("n-2", Duration.ZERO).build());
        client.createTimer(namespace, later("n-3", Duration.ZERO).build());
        client.deleteTimer(namespace, "n-3");

        Namespace mine = client.listNamespaces().stream()
                .filter(entry -> entry.name().equals(namespace))
                .findFirst()
                .orElseThrow();

        assertEquals(new TimerCounts(2, 0, 0), mine.counts());
    }

    @Test
    void async_calls_work_against_the_server() {
        Timer created = client.createTimerAsync(
                        namespace, later("async", Duration.ZERO).build())
                .join();
        Timer updated = client.updateTimerAsync(
                        namespace, "async", TimerUpdate.builder().payload(true).build(), created.version())
                .join();

        assertEquals(true, updated.payload());
        assertEquals(updated, client.getTimerAsync(namespace, "async").join());
        assertEquals(
                List.of("async"),
                ids(client.listTimersAsync(namespace, ListTimersRequest.all()).join()));
        assertEquals(List.of(), client.listAttemptsAsync(namespace, "async").join());
        client.deleteTimerAsync(namespace, "async").join();
        assertThrows(NotFoundException.class, () -> client.getTimer(namespace, "async"));
    }

    private static List<String> ids(TimerPage page) {
        return page.timers().stream().map(Timer::id).collect(Collectors.toList());
    }
}
