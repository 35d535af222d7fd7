package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ErrorMappingTest {
    private final StubServer stub = StubServer.start();
    // No retries, so that a 503 is seen as it is.
    private final TimerClient client =
            stub.client(new RecordingPause()).maxRetries(0).build();

    @AfterEach
    void stop() {
        stub.close();
    }

    static Stream<Arguments> contractCodes() {
        return Stream.of(
                Arguments.of(400, "invalid_argument", InvalidArgumentException.class),
                Arguments.of(401, "unauthenticated", UnauthenticatedException.class),
                Arguments.of(403, "permission_denied", PermissionDeniedException.class),
                Arguments.of(404, "not_found", NotFoundException.class),
                Arguments.of(409, "already_exists", AlreadyExistsException.class),
                Arguments.of(412, "precondition_failed", PreconditionFailedException.class),
                Arguments.of(413, "payload_too_large", PayloadTooLargeException.class),
                Arguments.of(500, "internal", InternalException.class),
                Arguments.of(503, "unavailable", UnavailableException.class));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("contractCodes")
    void each_contract_code_has_its_exception(int status, String code, Class<? extends ApiException> type) {
        stub.reply(
                status,
                Fixtures.error(code, "what went wrong", "{'namespace': 'shop', 'id': 'r', 'n': 3}"),
                "X-Request-Id",
                "req-42");

        ApiException error = assertThrows(ApiException.class, () -> client.getTimer("shop", "r"));

        assertSame(type, error.getClass());
        assertEquals(status, error.status());
        assertEquals(code, error.code());
        assertEquals("what went wrong", error.errorMessage());
        assertEquals("what went wrong", error.getMessage());
        assertEquals(Map.of("namespace", "shop", "id", "r", "n", 3), error.details());
        assertEquals(Optional.of("req-42"), error.requestId());
        assertTrue(error.toString().contains(status + " " + code + ": what went wrong (request id req-42)"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("contractCodes")
    void a_body_without_the_error_shape_is_mapped_by_status(
            int status, String code, Class<? extends ApiException> type) {
        stub.reply(status, "<html>Bad gateway of a proxy</html>", "Content-Type", "text/html");

        ApiException error = assertThrows(ApiException.class, () -> client.listNamespaces());

        assertSame(type, error.getClass());
        assertEquals(status, error.status());
        assertEquals(code, error.code());
        assertEquals(Map.of(), error.details());
        assertEquals(Optional.empty(), error.requestId());
    }

    @Test
    void a_code_the_sdk_does_not_know_is_a_plain_api_exception() {
        stub.reply(405, Fixtures.error("method_not_allowed", "GET is not allowed here", "{}"), "Allow", "POST");

        ApiException error = assertThrows(ApiException.class, () -> client.listNamespaces());

        assertSame(ApiException.class, error.getClass());
        assertEquals(405, error.status());
        assertEquals("method_not_allowed", error.code());
    }

    @Test
    void an_unknown_code_with_a_known_status_takes_the_status_type() {
        stub.reply(404, Fixtures.error("no_such_route", "no route /x", "{}"));

        ApiException error = assertThrows(ApiException.class, () -> client.listNamespaces());

        assertSame(NotFoundException.class, error.getClass());
        assertEquals("no_such_route", error.code());
    }

    @Test
    void an_error_body_without_a_code_takes_the_code_of_its_status() {
        stub.replyJson(404, "{'error': {'message': 'gone'}}");

        ApiException error = assertThrows(ApiException.class, () -> client.getTimer("shop", "r"));

        assertSame(NotFoundException.class, error.getClass());
        assertEquals("not_found", error.code());
        assertEquals("gone", error.errorMessage());
    }

    @Test
    void a_status_outside_the_contract_without_the_error_body_has_the_unknown_code() {
        stub.reply(502, "", "Content-Type", "text/plain");

        ApiException error = assertThrows(ApiException.class, () -> client.listNamespaces());

        assertSame(ApiException.class, error.getClass());
        assertEquals(502, error.status());
        assertEquals("unknown", error.code());
        assertTrue(error.errorMessage().contains("502"), error.errorMessage());
    }

    @Test
    void invalid_argument_names_every_bad_field() {
        stub.reply(
                400,
                Fixtures.error(
                        "invalid_argument",
                        "invalid request",
                        "{'fields': [{'field': 'callback.url', 'reason': 'must be http or https'},"
                                + " {'field': 'callback.timeout_seconds', 'reason': 'must be >= 0.1'}]}"));

        InvalidArgumentException error = assertThrows(
                InvalidArgumentException.class,
                () -> client.createTimer(
                        "shop",
                        CreateTimerRequest.builder()
                                .id("r")
                                .delay(Duration.ZERO)
                                .callbackUrl("ftp://x")
                                .build()));

        assertEquals(
                List.of(
                        new FieldViolation("callback.url", "must be http or https"),
                        new FieldViolation("callback.timeout_seconds", "must be >= 0.1")),
                error.fieldViolations());
    }

    @Test
    void already_exists_carries_the_existing_timer() {
        stub.reply(
                409,
                Fixtures.json("{'error': {'code': 'already_exists', 'message': 'timer r exists',"
                        + " 'details': {'existing': " + Fixtures.timer("shop", "r") + "}}}"));

        AlreadyExistsException error = assertThrows(
                AlreadyExistsException.class,
                () -> client.createTimer(
                        "shop",
                        CreateTimerRequest.builder()
                                .id("r")
                                .delay(Duration.ZERO)
                                .callbackUrl("https://h.example/")
                                .build()));

        Timer existing = error.existing().orElseThrow();
        assertEquals("r", existing.id());
        assertEquals(7, existing.version());
        assertEquals(TimerStatus.FAILED, existing.status());
    }

    @Test
    void already_exists_without_a_timer_has_none() {
        stub.reply(409, Fixtures.error("already_exists", "exists", "{'existing': {'id': 'half'}}"));

        AlreadyExistsException error = assertThrows(AlreadyExistsException.class, () -> client.getTimer("shop", "r"));

        assertEquals(Optional.empty(), error.existing());
    }

    @Test
    void precondition_failed_carries_both_versions() {
        stub.reply(
                412,
                Fixtures.error("precondition_failed", "version 4, not 3", "{'expected_version': 3, 'version': 4}"));

        PreconditionFailedException error = assertThrows(
                PreconditionFailedException.class,
                () -> client.updateTimer(
                        "shop", "r", TimerUpdate.builder().payload(1).build(), 3));

        assertEquals(OptionalLong.of(3), error.expectedVersion());
        assertEquals(OptionalLong.of(4), error.currentVersion());
    }

    @Test
    void payload_too_large_says_which_part() {
        stub.reply(
                413,
                Fixtures.error("payload_too_large", "too big", "{'field': 'payload', 'size': 70000, 'limit': 65536}"));

        PayloadTooLargeException error =
                assertThrows(PayloadTooLargeException.class, () -> client.getTimer("shop", "r"));

        assertEquals(Optional.of("payload"), error.field());
        assertEquals(70000, error.details().get("size"));
    }

    @Test
    void unavailable_carries_retry_after() {
        stub.reply(503, Fixtures.error("unavailable", "storage down", "{}"), "Retry-After", "2");

        UnavailableException error = assertThrows(UnavailableException.class, () -> client.getTimer("shop", "r"));

        assertEquals(Optional.of(Duration.ofSeconds(2)), error.retryAfter());
    }

    @Test
    void async_calls_complete_with_the_same_exceptions() {
        stub.reply(404, Fixtures.error("not_found", "no timer r", "{'namespace': 'shop', 'id': 'r'}"));

        CompletionException wrapper = assertThrows(
                CompletionException.class,
                () -> client.getTimerAsync("shop", "r").join());

        NotFoundException error = assertInstanceOf(NotFoundException.class, wrapper.getCause());
        assertEquals(404, error.status());
        assertEquals(Map.of("namespace", "shop", "id", "r"), error.details());
    }

    @Test
    void a_success_whose_body_is_not_a_timer_is_reported() {
        stub.replyJson(200, "{'id': 'r'}");

        TimerKernelException error = assertThrows(TimerKernelException.class, () -> client.getTimer("shop", "r"));

        assertSame(TimerKernelException.class, error.getClass());
        assertTrue(error.getMessage().contains("GET /api/v1/namespaces/shop/timers/r"), error.getMessage());
    }

    @Test
    void batch_items_carry_their_typed_errors_without_throwing() {
        stub.reply(
                200,
                Fixtures.json("{'results': ["
                        + "{'status': 201, 'timer': " + Fixtures.scheduled("shop", "a", "2026-12-03T08:00:00.000Z")
                        + "},"
                        + "{'status': 200, 'timer': " + Fixtures.scheduled("shop", "b", "2026-12-03T08:00:00.000Z")
                        + "},"
                        + "{'status': 409, 'error': {'code': 'already_exists', 'message': 'exists',"
                        + "  'details': {'existing': " + Fixtures.timer("shop", "c") + "}}},"
                        + "{'status': 400, 'error': {'code': 'invalid_argument', 'message': 'bad',"
                        + "  'details': {'fields': [{'field': 'id', 'reason': 'must match'}]}}}]}"));

        List<BatchCreateResult> results = client.batchCreateTimers(
                "shop",
                List.of(CreateTimerRequest.builder()
                        .id("a")
                        .delay(Duration.ZERO)
                        .callbackUrl("https://h.example/")
                        .build()));

        assertEquals(4, results.size());
        assertTrue(results.get(0).created());
        assertEquals("a", results.get(0).timer().orElseThrow().id());
        assertTrue(results.get(1).succeeded());
        assertEquals(false, results.get(1).created());
        AlreadyExistsException conflict = assertInstanceOf(
                AlreadyExistsException.class, results.get(2).error().orElseThrow());
        assertEquals("c", conflict.existing().orElseThrow().id());
        assertEquals(409, results.get(2).status());
        InvalidArgumentException invalid = assertInstanceOf(
                InvalidArgumentException.class, results.get(3).error().orElseThrow());
        assertEquals(List.of(new FieldViolation("id", "must match")), invalid.fieldViolations());
    }
}
