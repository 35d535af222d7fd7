package dev.timerkernel.client;

import static dev.timerkernel.client.Fixtures.parse;
import static dev.timerkernel.client.Fixtures.tree;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RequestShapeTest {
    private final StubServer stub = StubServer.start();
    private final TimerClient client =
            stub.client(new RecordingPause()).token("s3cret").build();

    @AfterEach
    void stop() {
        stub.close();
    }

    @Test
    void create_posts_the_definition_with_every_field() {
        stub.reply(201, Fixtures.scheduled("shop", "cart-77", "2026-12-03T08:00:00.000Z"));

        client.createTimer(
                "shop",
                CreateTimerRequest.builder()
                        .id("cart-77")
                        .fireAt(Instant.parse("2026-12-03T08:00:00Z"))
                        .callback(Callback.builder()
                                .url("https://shop.example/hooks/cart")
                                .timeout(Duration.ofMillis(2500))
                                .header("Authorization", "Bearer cb")
                                .build())
                        .payload(Map.of("cart", 77))
                        .retryPolicy(RetryPolicy.builder()
                                .maxAttempts(5)
                                .initialInterval(Duration.ofMillis(200))
                                .maxDuration(Duration.ofHours(1))
                                .build())
                        .build());

        StubServer.Recorded request = stub.only();
        assertEquals("POST", request.method);
        assertEquals("/api/v1/namespaces/shop/timers", request.path);
        assertNull(request.query);
        assertEquals("application/json", request.header("Content-Type"));
        assertEquals("application/json", request.header("Accept"));
        assertEquals(
                tree("{'id': 'cart-77', 'fire_at': '2026-12-03T08:00:00Z',"
                        + " 'callback': {'url': 'https://shop.example/hooks/cart', 'timeout_seconds': 2.5,"
                        + "              'headers': {'Authorization': 'Bearer cb'}},"
                        + " 'payload': {'cart': 77},"
                        + " 'retry_policy': {'max_attempts': 5, 'initial_interval_seconds': 0.2,"
                        + "                  'backoff_coefficient': 2.0, 'max_interval_seconds': 600,"
                        + "                  'max_duration_seconds': 3600}}"),
                parse(request.bodyText()));
    }

    @Test
    void create_with_a_delay_sends_delay_seconds_and_leaves_the_policy_to_the_server() {
        stub.reply(201, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"));

        client.createTimer(
                "shop",
                CreateTimerRequest.builder()
                        .id("r")
                        .delay(Duration.ofHours(24))
                        .callbackUrl("https://shop.example/r")
                        .build());

        assertEquals(
                tree("{'id': 'r', 'delay_seconds': 86400,"
                        + " 'callback': {'url': 'https://shop.example/r', 'timeout_seconds': 10, 'headers': {}},"
                        + " 'payload': null}"),
                parse(stub.only().bodyText()));
    }

    @Test
    void every_request_carries_the_user_agent_and_the_bearer_token() {
        stub.reply(200, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"));

        client.getTimer("shop", "r");

        StubServer.Recorded request = stub.only();
        assertEquals("timerkernel-java/" + Version.VERSION, request.header("User-Agent"));
        assertEquals("Bearer s3cret", request.header("Authorization"));
    }

    @Test
    void without_a_token_no_authorization_is_sent_and_an_application_agent_comes_first() {
        stub.reply(200, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"));
        TimerClient anonymous =
                stub.client(new RecordingPause()).userAgent("billing/2.3").build();

        anonymous.getTimer("shop", "r");

        StubServer.Recorded request = stub.only();
        assertNull(request.header("Authorization"));
        assertEquals("billing/2.3 timerkernel-java/" + Version.VERSION, request.header("User-Agent"));
    }

    @Test
    void batch_create_posts_every_definition_in_order() {
        stub.replyJson(200, "{'results': []}");

        client.batchCreateTimers(
                "shop",
                List.of(
                        CreateTimerRequest.builder()
                                .id("a")
                                .delay(Duration.ZERO)
                                .callbackUrl("https://h.example/a")
                                .build(),
                        CreateTimerRequest.builder()
                                .id("b")
                                .delay(Duration.ofMillis(1500))
                                .callbackUrl("https://h.example/b")
                                .payload("text")
                                .build()));

        StubServer.Recorded request = stub.only();
        assertEquals("POST", request.method);
        assertEquals("/api/v1/namespaces/shop/timers:batchCreate", request.path);
        assertEquals(
                tree("{'timers': ["
                        + "{'id': 'a', 'delay_seconds': 0, 'payload': null,"
                        + " 'callback': {'url': 'https://h.example/a', 'timeout_seconds': 10, 'headers': {}}},"
                        + "{'id': 'b', 'delay_seconds': 1.5, 'payload': 'text',"
                        + " 'callback': {'url': 'https://h.example/b', 'timeout_seconds': 10, 'headers': {}}}]}"),
                parse(request.bodyText()));
    }

    @Test
    void get_encodes_the_id_as_one_path_segment() {
        stub.reply(200, Fixtures.scheduled("shop", "user@example.com:1", "2026-12-03T08:00:00.000Z"))
                .reply(200, Fixtures.scheduled("shop", "a/b c", "2026-12-03T08:00:00.000Z"));

        client.getTimer("shop", "user@example.com:1");
        client.getTimer("shop", "a/b c");

        List<StubServer.Recorded> requests = stub.requests();
        assertEquals("GET", requests.get(0).method);
        assertEquals("/api/v1/namespaces/shop/timers/user@example.com:1", requests.get(0).path);
        assertEquals("/api/v1/namespaces/shop/timers/a%2Fb%20c", requests.get(1).path);
        assertEquals(0, requests.get(0).body.length);
    }

    @Test
    void update_without_a_version_sends_no_if_match() {
        stub.reply(200, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"));

        client.updateTimer(
                "shop",
                "r",
                TimerUpdate.builder()
                        .fireAt(Instant.parse("2026-12-04T09:30:00.123Z"))
                        .payload(null)
                        .build());

        StubServer.Recorded request = stub.only();
        assertEquals("PATCH", request.method);
        assertEquals("/api/v1/namespaces/shop/timers/r", request.path);
        assertNull(request.header("If-Match"));
        assertEquals(tree("{'fire_at': '2026-12-04T09:30:00.123Z', 'payload': null}"), parse(request.bodyText()));
    }

    @Test
    void update_with_a_version_sends_it_as_if_match() {
        stub.reply(200, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"));

        client.updateTimer(
                "shop",
                "r",
                TimerUpdate.builder()
                        .callback(Callback.of("https://h.example/new"))
                        .retryPolicy(RetryPolicy.defaults())
                        .build(),
                3);

        StubServer.Recorded request = stub.only();
        assertEquals("\"3\"", request.header("If-Match"));
        assertEquals(
                tree("{'callback': {'url': 'https://h.example/new', 'timeout_seconds': 10, 'headers': {}},"
                        + " 'retry_policy': {'max_attempts': 10, 'initial_interval_seconds': 1,"
                        + "  'backoff_coefficient': 2.0, 'max_interval_seconds': 600,"
                        + "  'max_duration_seconds': null}}"),
                parse(request.bodyText()));
    }

    @Test
    void delete_sends_if_match_only_when_given_a_version() {
        stub.reply(204, "").reply(204, "");

        client.deleteTimer("shop", "r");
        client.deleteTimer("shop", "r", 9);

        List<StubServer.Recorded> requests = stub.requests();
        assertEquals("DELETE", requests.get(0).method);
        assertEquals("/api/v1/namespaces/shop/timers/r", requests.get(0).path);
        assertNull(requests.get(0).header("If-Match"));
        assertEquals("\"9\"", requests.get(1).header("If-Match"));
    }

    @Test
    void list_sends_every_filter_in_the_query() {
        stub.replyJson(200, "{'timers': [], 'next_page_token': null}");

        client.listTimers(
                "shop",
                ListTimersRequest.builder()
                        .status(TimerStatus.SCHEDULED, TimerStatus.FAILED)
                        .fireAfter(Instant.parse("2026-12-01T00:00:00Z"))
                        .fireBefore(Instant.parse("2026-12-02T00:00:00.500Z"))
                        .idPrefix("cart 7&")
                        .limit(100)
                        .pageToken("tok/en=")
                        .build());

        StubServer.Recorded request = stub.only();
        assertEquals("GET", request.method);
        assertEquals("/api/v1/namespaces/shop/timers", request.path);
        assertEquals(
                "status=scheduled&status=failed"
                        + "&fire_after=2026-12-01T00%3A00%3A00Z"
                        + "&fire_before=2026-12-02T00%3A00%3A00.500Z"
                        + "&id_prefix=cart%207%26&limit=100&page_token=tok%2Fen%3D",
                request.query);
    }

    @Test
    void list_without_filters_sends_no_query() {
        stub.replyJson(200, "{'timers': [], 'next_page_token': null}");

        client.listTimers("shop");

        assertNull(stub.only().query);
    }

    @Test
    void attempts_and_namespaces_have_their_paths() {
        stub.replyJson(200, "{'attempts': []}").replyJson(200, "{'namespaces': []}");

        client.listAttempts("shop", "r");
        client.listNamespaces();

        List<StubServer.Recorded> requests = stub.requests();
        assertEquals("/api/v1/namespaces/shop/timers/r/attempts", requests.get(0).path);
        assertEquals("GET", requests.get(1).method);
        assertEquals("/api/v1/namespaces", requests.get(1).path);
    }

    @Test
    void a_base_url_with_a_path_prefix_keeps_it() {
        stub.replyJson(200, "{'namespaces': []}");
        TimerClient prefixed = stub.client(new RecordingPause())
                .baseUrl(stub.baseUrl() + "/timers/")
                .build();

        prefixed.listNamespaces();

        assertEquals("/timers/api/v1/namespaces", stub.only().path);
    }

    @Test
    void async_calls_send_the_same_requests() {
        stub.reply(200, Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z"))
                .reply(204, "");

        Timer timer = client.updateTimerAsync(
                        "shop", "r", TimerUpdate.builder().payload(1).build(), 2)
                .join();
        client.deleteTimerAsync("shop", "r").join();

        assertEquals("r", timer.id());
        List<StubServer.Recorded> requests = stub.requests();
        assertEquals("PATCH", requests.get(0).method);
        assertEquals("\"2\"", requests.get(0).header("If-Match"));
        assertEquals("timerkernel-java/" + Version.VERSION, requests.get(0).header("User-Agent"));
        assertEquals("Bearer s3cret", requests.get(0).header("Authorization"));
        assertEquals("DELETE", requests.get(1).method);
    }
}
