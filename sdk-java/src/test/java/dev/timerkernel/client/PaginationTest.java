package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class PaginationTest {
    private final StubServer stub = StubServer.start();
    private final TimerClient client = stub.client(new RecordingPause()).build();

    @AfterEach
    void stop() {
        stub.close();
    }

    private static String page(String token, String... ids) {
        List<String> timers = new ArrayList<>();
        for (String id : ids) {
            timers.add(Fixtures.scheduled("shop", id, "2026-12-03T08:00:00.000Z"));
        }

        return "{\"timers\": [" + String.join(",", timers) + "], \"next_page_token\": "
                + (token == null ? "null" : "\"" + token + "\"") + "}";
    }

    private void scriptThreePages() {
        stub.reply(200, page("p2", "a", "b")).reply(200, page("p3", "c", "d")).reply(200, page(null, "e"));
    }

    @Test
    void the_iterable_follows_page_tokens_to_the_end_keeping_the_filters() {
        scriptThreePages();
        ListTimersRequest filters = ListTimersRequest.builder()
                .status(TimerStatus.SCHEDULED)
                .idPrefix("cart-")
                .limit(2)
                .build();

        List<String> ids = new ArrayList<>();
        for (Timer timer : client.iterateTimers("shop", filters)) {
            ids.add(timer.id());
        }

        assertEquals(List.of("a", "b", "c", "d", "e"), ids);
        List<StubServer.Recorded> requests = stub.requests();
        assertEquals(3, requests.size());
        assertEquals("status=scheduled&id_prefix=cart-&limit=2", requests.get(0).query);
        assertEquals("status=scheduled&id_prefix=cart-&limit=2&page_token=p2", requests.get(1).query);
        assertEquals("status=scheduled&id_prefix=cart-&limit=2&page_token=p3", requests.get(2).query);
    }

    @Test
    void the_stream_reads_pages_only_as_far_as_it_is_consumed() {
        scriptThreePages();

        List<String> ids = client.streamTimers("shop", ListTimersRequest.all())
                .limit(3)
                .map(Timer::id)
                .collect(Collectors.toList());

        assertEquals(List.of("a", "b", "c"), ids);
        assertEquals(2, stub.requests().size());
    }

    @Test
    void an_empty_listing_reads_one_page() {
        stub.reply(200, page(null));

        Iterator<Timer> timers =
                client.iterateTimers("shop", ListTimersRequest.all()).iterator();

        assertFalse(timers.hasNext());
        assertFalse(timers.hasNext());
        assertEquals(1, stub.requests().size());
    }

    @Test
    void an_empty_page_with_a_token_is_skipped() {
        stub.reply(200, page("p2")).reply(200, page(null, "a"));

        List<String> ids = client.streamTimers("shop", ListTimersRequest.all())
                .map(Timer::id)
                .collect(Collectors.toList());

        assertEquals(List.of("a"), ids);
    }

    @Test
    void a_token_that_repeats_stops_the_iteration() {
        stub.reply(200, page("same", "a")).reply(200, page("same", "b"));

        Iterator<Timer> timers =
                client.iterateTimers("shop", ListTimersRequest.all()).iterator();
        timers.next();

        TimerKernelException error = assertThrows(TimerKernelException.class, timers::next);
        assertEquals("the server gave the same page token twice: same", error.getMessage());
    }

    @Test
    void errors_surface_from_the_iterator() {
        stub.reply(200, page("p2", "a")).reply(400, Fixtures.error("invalid_argument", "bad token", "{'fields': []}"));

        Iterator<Timer> timers =
                client.iterateTimers("shop", ListTimersRequest.all()).iterator();
        timers.next();

        assertThrows(InvalidArgumentException.class, timers::hasNext);
    }

    @Test
    void each_iteration_starts_again() {
        stub.reply(200, page(null, "a")).reply(200, page(null, "a"));
        Iterable<Timer> timers = client.iterateTimers("shop", ListTimersRequest.all());

        timers.forEach(timer -> {});
        timers.forEach(timer -> {});

        assertEquals(2, stub.requests().size());
    }
}
