package dev.timerkernel.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The client of the timer service's REST API ({@code /api/v1}).
 *
 * <p>Made by {@link #builder()}, it is immutable and safe to share between threads; make one
 * per server and reuse it. Every call has a synchronous form, which throws the SDK's
 * exceptions, and an {@code ...Async} form, whose future completes exceptionally with the same
 * exceptions.
 *
 * <p>Calls that are safe to repeat are retried on connection errors and on 503 {@code
 * unavailable}: get, list, delete, and creates (which the server deduplicates by id); an
 * update only when it carries an expected version, since it then cannot apply twice. Retries
 * wait with exponential backoff and full jitter and honour the server's {@code Retry-After} up
 * to the backoff's cap.
 */
public final class TimerClient {
    /** The base URL unless one is set: a server on this machine's default port. */
    public static final String DEFAULT_BASE_URL = "http://127.0.0.1:8080";

    /** The timeout of each attempt unless one is set. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** How many times a call is retried after its first attempt unless set. */
    public static final int DEFAULT_MAX_RETRIES = 3;

    /** The cap on the first wait between attempts unless set; each later cap doubles. */
    public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(200);

    /** The cap on any wait between attempts unless set. */
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(5);

    private static final String API = "/api/v1";
    private static final System.Logger LOGGER = System.getLogger(TimerClient.class.getName());

    private final String baseUrl;
    private final String token;
    private final Duration timeout;
    private final String userAgent;
    private final String applicationAgent;
    private final int maxRetries;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final HttpClient injectedHttpClient;
    private final HttpClient http;
    private final Backoff backoff;
    private final Pause pause;
    private final Clock clock;
    private final DoubleSupplier random;

    private TimerClient(Builder builder) {
        this.baseUrl = builder.baseUrl;
        this.token = builder.token;
        this.timeout = builder.timeout;
        this.applicationAgent = builder.userAgent;
        this.userAgent = builder.userAgent == null ? Version.USER_AGENT : builder.userAgent + " " + Version.USER_AGENT;
        this.maxRetries = builder.maxRetries;
        this.initialBackoff = builder.initialBackoff;
        this.maxBackoff = builder.maxBackoff;
        this.injectedHttpClient = builder.httpClient;
        this.http = builder.httpClient != null
                ? builder.httpClient
                : HttpClient.newBuilder()
                        // HTTP/1.1 spares every plain-HTTP request an h2c upgrade attempt.
                        .version(HttpClient.Version.HTTP_1_1)
                        .connectTimeout(builder.timeout)
                        .followRedirects(HttpClient.Redirect.NEVER)
                        .build();
        this.pause = builder.pause;
        this.clock = builder.clock;
        this.random = builder.random;
        this.backoff = new Backoff(initialBackoff, maxBackoff, random);
    }

    /**
     * @return a builder with the defaults: {@value #DEFAULT_BASE_URL}, 30 s timeout, 3 retries
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this client's settings, to derive another client
     */
    public Builder toBuilder() {
        Builder builder = new Builder()
                .baseUrl(baseUrl)
                .timeout(timeout)
                .maxRetries(maxRetries)
                .retryBackoff(initialBackoff, maxBackoff);
        builder.token = token;
        builder.userAgent = applicationAgent;
        builder.httpClient = injectedHttpClient;
        builder.pause = pause;
        builder.clock = clock;
        builder.random = random;
        return builder;
    }

    /**
     * @return the base URL, without a trailing slash
     */
    public String baseUrl() {
        return baseUrl;
    }

    /**
     * @return the timeout of each attempt
     */
    public Duration timeout() {
        return timeout;
    }

    /**
     * @return the {@code User-Agent} sent with every request
     */
    public String userAgent() {
        return userAgent;
    }

    /**
     * @return how many times a call that is safe to repeat is retried after its first attempt
     */
    public int maxRetries() {
        return maxRetries;
    }

    /**
     * @return the cap on the first wait between attempts
     */
    public Duration initialBackoff() {
        return initialBackoff;
    }

    /**
     * @return the cap on any wait between attempts
     */
    public Duration maxBackoff() {
        return maxBackoff;
    }

    @Override
    public String toString() {
        return "TimerClient{baseUrl=" + baseUrl
                + ", token=" + (token == null ? "none" : "***")
                + ", timeout=" + timeout
                + ", maxRetries=" + maxRetries
                + "}";
    }

    // -- timers ---------------------------------------------------------------------

    /**
     * Creates a timer. When the id already holds the same definition, the stored timer is
     * returned unchanged and nothing is scheduled again.
     *
     * @param namespace the namespace, created on first use
     * @param request the timer's definition
     * @return the timer
     * @throws AlreadyExistsException if the id holds a different timer, which it carries
     * @throws InvalidArgumentException naming every bad field
     * @throws TimerKernelException for any other failure
     */
    public Timer createTimer(String namespace, CreateTimerRequest request) {
        return execute(createCall(namespace, request), TimerClient::readTimer);
    }

    /**
     * The asynchronous form of {@link #createTimer(String, CreateTimerRequest)}.
     *
     * @param namespace the namespace
     * @param request the timer's definition
     * @return the timer, or the same exceptions as the synchronous form
     */
    public CompletableFuture<Timer> createTimerAsync(String namespace, CreateTimerRequest request) {
        return executeAsync(createCall(namespace, request), TimerClient::readTimer);
    }

    private Call createCall(String namespace, CreateTimerRequest request) {
        Objects.requireNonNull(request, "request");
        return new Call("POST", timers(namespace), Json.bytes(Json.createBody(request)), null, true);
    }

    /**
     * Creates up to 1,000 timers in one call. Each item is judged as a single create would be,
     * and the batch is not atomic: read each result.
     *
     * @param namespace the namespace
     * @param requests the timers' definitions
     * @return one result per request, in order
     * @throws InvalidArgumentException if the batch itself is invalid (empty or too large)
     * @throws TimerKernelException for any other failure of the whole call
     */
    public List<BatchCreateResult> batchCreateTimers(String namespace, List<CreateTimerRequest> requests) {
        return execute(batchCall(namespace, requests), TimerClient::readBatch);
    }

    /**
     * The asynchronous form of {@link #batchCreateTimers(String, List)}.
     *
     * @param namespace the namespace
     * @param requests the timers' definitions
     * @return one result per request, or the same exceptions as the synchronous form
     */
    public CompletableFuture<List<BatchCreateResult>> batchCreateTimersAsync(
            String namespace, List<CreateTimerRequest> requests) {
        return executeAsync(batchCall(namespace, requests), TimerClient::readBatch);
    }

    private Call batchCall(String namespace, List<CreateTimerRequest> requests) {
        Objects.requireNonNull(requests, "requests");
        return new Call("POST", timers(namespace) + ":batchCreate", Json.bytes(Json.batchBody(requests)), null, true);
    }

    /**
     * Reads one timer.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @return the timer
     * @throws NotFoundException if there is no such timer
     * @throws TimerKernelException for any other failure
     */
    public Timer getTimer(String namespace, String id) {
        return execute(new Call("GET", timer(namespace, id), null, null, true), TimerClient::readTimer);
    }

    /**
     * The asynchronous form of {@link #getTimer(String, String)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @return the timer, or the same exceptions as the synchronous form
     */
    public CompletableFuture<Timer> getTimerAsync(String namespace, String id) {
        return executeAsync(new Call("GET", timer(namespace, id), null, null, true), TimerClient::readTimer);
    }

    /**
     * Changes a timer, whatever its version. Not retried, since a repeat could undo a change
     * made in between.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param update what to change
     * @return the timer after the change
     * @throws NotFoundException if there is no such timer
     * @throws InvalidArgumentException naming every bad field
     * @throws TimerKernelException for any other failure
     */
    public Timer updateTimer(String namespace, String id, TimerUpdate update) {
        return execute(updateCall(namespace, id, update, null), TimerClient::readTimer);
    }

    /**
     * Changes a timer only if its version is still {@code expectedVersion} (sent as {@code
     * If-Match}). Retried like a read, since it cannot apply twice.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param update what to change
     * @param expectedVersion the version the change is based on, from {@link Timer#version()}
     * @return the timer after the change
     * @throws PreconditionFailedException if the timer's version is another
     * @throws NotFoundException if there is no such timer
     * @throws TimerKernelException for any other failure
     */
    public Timer updateTimer(String namespace, String id, TimerUpdate update, long expectedVersion) {
        return execute(updateCall(namespace, id, update, expectedVersion), TimerClient::readTimer);
    }

    /**
     * The asynchronous form of {@link #updateTimer(String, String, TimerUpdate)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param update what to change
     * @return the timer after the change, or the same exceptions as the synchronous form
     */
    public CompletableFuture<Timer> updateTimerAsync(String namespace, String id, TimerUpdate update) {
        return executeAsync(updateCall(namespace, id, update, null), TimerClient::readTimer);
    }

    /**
     * The asynchronous form of {@link #updateTimer(String, String, TimerUpdate, long)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param update what to change
     * @param expectedVersion the version the change is based on
     * @return the timer after the change, or the same exceptions as the synchronous form
     */
    public CompletableFuture<Timer> updateTimerAsync(
            String namespace, String id, TimerUpdate update, long expectedVersion) {
        return executeAsync(updateCall(namespace, id, update, expectedVersion), TimerClient::readTimer);
    }

    private Call updateCall(String namespace, String id, TimerUpdate update, Long expectedVersion) {
        Objects.requireNonNull(update, "update");
        return new Call(
                "PATCH",
                timer(namespace, id),
                Json.bytes(Json.updateBody(update)),
                expectedVersion,
                expectedVersion != null);
    }

    /**
     * Deletes a timer: it will not fire again, though a delivery already in flight may still
     * arrive once.
     *
     * <p>A delete is retried; if an attempt whose answer was lost had already deleted the
     * timer, the retry answers {@link NotFoundException}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @throws NotFoundException if there is no such timer
     * @throws TimerKernelException for any other failure
     */
    public void deleteTimer(String namespace, String id) {
        execute(new Call("DELETE", timer(namespace, id), null, null, true), response -> null);
    }

    /**
     * Deletes a timer only if its version is still {@code expectedVersion} (sent as {@code
     * If-Match}).
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param expectedVersion the version the decision is based on
     * @throws PreconditionFailedException if the timer's version is another
     * @throws NotFoundException if there is no such timer
     * @throws TimerKernelException for any other failure
     */
    public void deleteTimer(String namespace, String id, long expectedVersion) {
        execute(new Call("DELETE", timer(namespace, id), null, expectedVersion, true), response -> null);
    }

    /**
     * The asynchronous form of {@link #deleteTimer(String, String)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @return a future completed when the timer is deleted, or with the same exceptions as the
     *     synchronous form
     */
    public CompletableFuture<Void> deleteTimerAsync(String namespace, String id) {
        return executeAsync(new Call("DELETE", timer(namespace, id), null, null, true), response -> null);
    }

    /**
     * The asynchronous form of {@link #deleteTimer(String, String, long)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @param expectedVersion the version the decision is based on
     * @return a future completed when the timer is deleted, or with the same exceptions as the
     *     synchronous form
     */
    public CompletableFuture<Void> deleteTimerAsync(String namespace, String id, long expectedVersion) {
        return executeAsync(new Call("DELETE", timer(namespace, id), null, expectedVersion, true), response -> null);
    }

    /**
     * Lists one page of a namespace's timers, ordered by fire time, then id.
     *
     * @param namespace the namespace
     * @param request the filters, page size and page token
     * @return the page, with the token of the next one
     * @throws InvalidArgumentException if a filter is invalid, or the page token belongs to
     *     other filters
     * @throws TimerKernelException for any other failure
     */
    public TimerPage listTimers(String namespace, ListTimersRequest request) {
        return execute(listCall(namespace, request), TimerClient::readPage);
    }

    /**
     * Lists the first page of a namespace's timers, without filters.
     *
     * @param namespace the namespace
     * @return the page, with the token of the next one
     * @throws TimerKernelException for any failure
     */
    public TimerPage listTimers(String namespace) {
        return listTimers(namespace, ListTimersRequest.all());
    }

    /**
     * The asynchronous form of {@link #listTimers(String, ListTimersRequest)}.
     *
     * @param namespace the namespace
     * @param request the filters, page size and page token
     * @return the page, or the same exceptions as the synchronous form
     */
    public CompletableFuture<TimerPage> listTimersAsync(String namespace, ListTimersRequest request) {
        return executeAsync(listCall(namespace, request), TimerClient::readPage);
    }

    /**
     * Every timer that matches the filters, across all pages: each page is read when the
     * iteration reaches it, by following {@code next_page_token}. Each call to {@code
     * iterator()} starts again from the request's page. Errors are thrown from the iterator's
     * {@code hasNext()}.
     *
     * @param namespace the namespace
     * @param request the filters; its limit is the page size
     * @return the timers, ordered by fire time, then id
     */
    public Iterable<Timer> iterateTimers(String namespace, ListTimersRequest request) {
        segment(namespace, "namespace");
        Objects.requireNonNull(request, "request");
        return () -> new TimerIterator(namespace, request);
    }

    /**
     * Every timer that matches the filters, across all pages, as a sequential stream that reads
     * pages as it goes.
     *
     * @param namespace the namespace
     * @param request the filters; its limit is the page size
     * @return the timers, ordered by fire time, then id
     */
    public Stream<Timer> streamTimers(String namespace, ListTimersRequest request) {
        Iterable<Timer> timers = iterateTimers(namespace, request);
        return StreamSupport.stream(
                () -> Spliterators.spliteratorUnknownSize(timers.iterator(), Spliterator.ORDERED | Spliterator.NONNULL),
                Spliterator.ORDERED | Spliterator.NONNULL,
                false);
    }

    private Call listCall(String namespace, ListTimersRequest request) {
        Objects.requireNonNull(request, "request");
        List<String> query = new ArrayList<>();
        for (TimerStatus status : request.statuses()) {
            query.add("status=" + status.wireName());
        }

        request.fireAfter().ifPresent(time -> query.add("fire_after=" + queryValue(Json.formatTime(time))));
        request.fireBefore().ifPresent(time -> query.add("fire_before=" + queryValue(Json.formatTime(time))));
        request.idPrefix().ifPresent(prefix -> query.add("id_prefix=" + queryValue(prefix)));
        request.limit().ifPresent(limit -> query.add("limit=" + limit));
        request.pageToken().ifPresent(token -> query.add("page_token=" + queryValue(token)));
        String path = timers(namespace) + (query.isEmpty() ? "" : "?" + String.join("&", query));
        return new Call("GET", path, null, null, true);
    }

    /**
     * The timer's recent delivery attempts, newest first (the server keeps at least the last
     * 10).
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @return the attempts
     * @throws NotFoundException if there is no such timer
     * @throws TimerKernelException for any other failure
     */
    public List<Attempt> listAttempts(String namespace, String id) {
        return execute(attemptsCall(namespace, id), TimerClient::readAttempts);
    }

    /**
     * The asynchronous form of {@link #listAttempts(String, String)}.
     *
     * @param namespace the namespace
     * @param id the timer's id
     * @return the attempts, or the same exceptions as the synchronous form
     */
    public CompletableFuture<List<Attempt>> listAttemptsAsync(String namespace, String id) {
        return executeAsync(attemptsCall(namespace, id), TimerClient::readAttempts);
    }

    private Call attemptsCall(String namespace, String id) {
        return new Call("GET", timer(namespace, id) + "/attempts", null, null, true);
    }

    /**
     * The namespaces, each with the counts of its timers by status.
     *
     * @return the namespaces
     * @throws TimerKernelException for any failure
     */
    public List<Namespace> listNamespaces() {
        return execute(new Call("GET", API + "/namespaces", null, null, true), TimerClient::readNamespaces);
    }

    /**
     * The asynchronous form of {@link #listNamespaces()}.
     *
     * @return the namespaces, or the same exceptions as the synchronous form
     */
    public CompletableFuture<List<Namespace>> listNamespacesAsync() {
        return executeAsync(new Call("GET", API + "/namespaces", null, null, true), TimerClient::readNamespaces);
    }

    // -- paths ----------------------------------------------------------------------

    private static String timers(String namespace) {
        return API + "/namespaces/" + segment(namespace, "namespace") + "/timers";
    }

    private static String timer(String namespace, String id) {
        return timers(namespace) + "/" + segment(id, "id");
    }

    /** Percent-encodes a path segment: everything but RFC 3986's unreserved characters, ':' and '@'. */
    static String segment(String value, String name) {
        Objects.requireNonNull(value, name);
        if (value.isEmpty()) {
            throw new IllegalArgumentException(name + " cannot be empty");
        }

        StringBuilder encoded = new StringBuilder();
        for (byte b : value.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'a' && c <= 'z')
                    || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9')
                    || "-._~:@".indexOf(c) >= 0) {
                encoded.append(c);
            } else {
                encoded.append('%').append(String.format("%02X", b & 0xff));
            }
        }

        return encoded.toString();
    }

    private static String queryValue(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    // -- answers ----------------------------------------------------------------------

    private static Timer readTimer(HttpResponse<byte[]> response) {
        return Json.timer(Json.parse(response.body()));
    }

    private static List<BatchCreateResult> readBatch(HttpResponse<byte[]> response) {
        return Json.batchResults(Json.parse(response.body()));
    }

    private static TimerPage readPage(HttpResponse<byte[]> response) {
        return Json.page(Json.parse(response.body()));
    }

    private static List<Attempt> readAttempts(HttpResponse<byte[]> response) {
        return Json.attempts(Json.parse(response.body()));
    }

    private static List<Namespace> readNamespaces(HttpResponse<byte[]> response) {
        return Json.namespaces(Json.parse(response.body()));
    }

    // -- the exchange -------------------------------------------------------------------

    /** One call of the API: what to send and whether it is safe to send again. */
    private static final class Call {
        final String method;
        final String path;
        final byte[] body;
        final Long ifMatch;
        final boolean retrySafe;

        Call(String method, String path, byte[] body, Long ifMatch, boolean retrySafe) {
            this.method = method;
            this.path = path;
            this.body = body;
            this.ifMatch = ifMatch;
            this.retrySafe = retrySafe;
        }

        @Override
        public String toString() {
            return method + " " + path;
        }
    }

    @FunctionalInterface
    private interface Decoder<T> {
        T decode(HttpResponse<byte[]> response);
    }

    private HttpRequest request(Call call) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + call.path))
                .timeout(timeout)
                .header("User-Agent", userAgent)
                .header("Accept", "application/json");
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }

        if (call.ifMatch != null) {
            request.header("If-Match", "\"" + call.ifMatch + "\"");
        }

        if (call.body != null) {
            request.header("Content-Type", "application/json")
                    .method(call.method, HttpRequest.BodyPublishers.ofByteArray(call.body));
        } else {
            request.method(call.method, HttpRequest.BodyPublishers.noBody());
        }

        return request.build();
    }

    private <T> T execute(Call call, Decoder<T> decoder) {
        HttpRequest request = request(call);
        for (int attempt = 0; ; attempt++) {
            HttpResponse<byte[]> response;
            try {
                response = sendAndWait(call, request);
            } catch (ConnectionException exc) {
                if (!retriesTransportError(call, attempt, exc)) {
                    throw exc;
                }

                sleep(call, retryingAfter(call, attempt, backoff.delay(attempt, null), exc.getMessage()));
                continue;
            }

            Duration wait = retryWait(call, attempt, response);
            if (wait == null) {
                return finish(call, response, decoder);
            }

            sleep(call, retryingAfter(call, attempt, wait, "status 503"));
        }
    }

    /** One attempt, waited for: its answer, or the SDK's exception for why there is none. */
    private HttpResponse<byte[]> sendAndWait(Call call, HttpRequest request) {
        CompletableFuture<HttpResponse<byte[]>> attempt = send(request);
        try {
            return attempt.get();
        } catch (ExecutionException exc) {
            throw transportError(call, exc.getCause());
        } catch (InterruptedException exc) {
            attempt.cancel(true);
            Thread.currentThread().interrupt();
            throw new TimerKernelException("interrupted during " + call, exc);
        }
    }

    /**
     * Sends one attempt, bounded as a whole by the timeout. The HTTP client's own request
     * timeout stops counting once the headers arrive, so a body that stalls would otherwise
     * hold the call for ever. A timed-out or cancelled attempt aborts its exchange.
     */
    private CompletableFuture<HttpResponse<byte[]>> send(HttpRequest request) {
        CompletableFuture<HttpResponse<byte[]>> exchange =
                http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
        CompletableFuture<HttpResponse<byte[]>> attempt =
                exchange.copy().orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS);
        attempt.whenComplete((response, failure) -> {
            if (failure != null) {
                exchange.cancel(true);
            }
        });
        return attempt;
    }

    private static Duration retryingAfter(Call call, int attempt, Duration wait, String reason) {
        LOGGER.log(
                System.Logger.Level.DEBUG,
                "retrying {1} (retry {0}) in {2} ms after {3}",
                attempt + 1,
                call,
                wait.toMillis(),
                reason);
        return wait;
    }

    private void sleep(Call call, Duration wait) {
        try {
            pause.sleep(wait);
        } catch (InterruptedException exc) {
            Thread.currentThread().interrupt();
            throw new TimerKernelException("interrupted while waiting to retry " + call, exc);
        }
    }

    private <T> CompletableFuture<T> executeAsync(Call call, Decoder<T> decoder) {
        CompletableFuture<T> result = new CompletableFuture<>();
        attemptAsync(call, request(call), decoder, 0, result);
        return result;
    }

    private <T> void attemptAsync(
            Call call, HttpRequest request, Decoder<T> decoder, int attempt, CompletableFuture<T> result) {
        if (result.isDone()) {
            return;
        }

        CompletableFuture<HttpResponse<byte[]>> exchange;
        try {
            exchange = send(request);
        } catch (RuntimeException exc) {
            result.completeExceptionally(new TimerKernelException(call + " could not be sent: " + exc, exc));
            return;
        }

        // Cancelling the caller's future aborts the exchange in flight.
        result.whenComplete((value, failure) -> {
            if (result.isCancelled()) {
                exchange.cancel(true);
            }
        });
        exchange.whenComplete((response, failure) -> {
            try {
                Duration wait = nextWait(call, decoder, attempt, result, response, failure);
                if (wait != null) {
                    pause.after(wait).thenRun(() -> attemptAsync(call, request, decoder, attempt + 1, result));
                }
            } catch (RuntimeException exc) {
                // Whatever goes wrong here must still complete the caller's future.
                result.completeExceptionally(new TimerKernelException(call + " failed: " + exc, exc));
            }
        });
    }

    /** Completes {@code result} from one exchange, or returns the wait before the next attempt. */
    private <T> Duration nextWait(
            Call call,
            Decoder<T> decoder,
            int attempt,
            CompletableFuture<T> result,
            HttpResponse<byte[]> response,
            Throwable failure) {
        if (failure != null) {
            Throwable cause = unwrap(failure);
            if (cause instanceof CancellationException) {
                result.completeExceptionally(cause);
                return null;
            }

            TimerKernelException error = transportError(call, cause);
            if (!retriesTransportError(call, attempt, error)) {
                result.completeExceptionally(error);
                return null;
            }

            return retryingAfter(call, attempt, backoff.delay(attempt, null), error.getMessage());
        }

        Duration wait = retryWait(call, attempt, response);
        if (wait != null) {
            return retryingAfter(call, attempt, wait, "status 503");
        }

        try {
            result.complete(finish(call, response, decoder));
        } catch (TimerKernelException exc) {
            result.completeExceptionally(exc);
        }

        return null;
    }

    private static Throwable unwrap(Throwable failure) {
        Throwable cause = failure;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }

        return cause;
    }

    /** The SDK's exception for an attempt that got no answer. */
    private TimerKernelException transportError(Call call, Throwable failure) {
        Throwable cause = unwrap(failure);
        if (cause instanceof HttpTimeoutException || cause instanceof TimeoutException) {
            return new RequestTimeoutException(
                    call + " to " + baseUrl + " got no whole answer within " + timeout.toMillis() + " ms",
                    timeout,
                    cause);
        }

        if (cause instanceof IOException) {
            String reason = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
            return new ConnectionException(call + " to " + baseUrl + " failed: " + reason, cause);
        }

        return new TimerKernelException(call + " failed: " + cause, cause);
    }

    private boolean retriesTransportError(Call call, int attempt, TimerKernelException error) {
        return call.retrySafe && attempt < maxRetries && error instanceof ConnectionException;
    }

    /** The wait before retrying after this answer, or null to take the answer as it is. */
    private Duration retryWait(Call call, int attempt, HttpResponse<byte[]> response) {
        if (response.statusCode() != 503 || !call.retrySafe || attempt >= maxRetries) {
            return null;
        }

        return backoff.delay(attempt, retryAfter(response));
    }

    private Duration retryAfter(HttpResponse<byte[]> response) {
        return Backoff.parseRetryAfter(
                response.headers().firstValue("Retry-After").orElse(null), clock);
    }

    private <T> T finish(Call call, HttpResponse<byte[]> response, Decoder<T> decoder) {
        int status = response.statusCode();
        if (status < 200 || status >= 300) {
            throw apiError(response);
        }

        try {
            return decoder.decode(response);
        } catch (Json.ShapeException | ArithmeticException | IllegalArgumentException exc) {
            throw new TimerKernelException(
                    "the answer " + status + " to " + call + " is not what the API defines: " + exc.getMessage(), exc);
        }
    }

    private ApiException apiError(HttpResponse<byte[]> response) {
        int status = response.statusCode();
        String requestId = response.headers()
                .firstValue("X-Request-Id")
                .or(() -> response.headers().firstValue("Request-Id"))
                .orElse(null);
        Duration retryAfter = retryAfter(response);
        try {
            JsonNode error = Json.parse(response.body()).get("error");
            if (error != null && error.isObject()) {
                return Json.error(status, error, requestId, retryAfter);
            }
        } catch (Json.ShapeException exc) {
            // Not the contract's error body (a proxy's page, say): fall through to the status.
        }

        return ApiException.of(
                status,
                null,
                "the server answered " + status + " without the API's error body",
                null,
                requestId,
                retryAfter);
    }

    // -- pagination ---------------------------------------------------------------------

    /** Walks the pages of one listing, reading each when the previous one is used up. */
    private final class TimerIterator implements Iterator<Timer> {
        private final String namespace;
        private final ListTimersRequest request;
        private Iterator<Timer> page = List.<Timer>of().iterator();
        private String nextToken;
        private boolean started;

        TimerIterator(String namespace, ListTimersRequest request) {
            this.namespace = namespace;
            this.request = request;
            this.nextToken = request.pageToken().orElse(null);
        }

        @Override
        public boolean hasNext() {
            while (!page.hasNext() && (!started || nextToken != null)) {
                String token = nextToken;
                TimerPage next = listTimers(
                        namespace, request.toBuilder().pageToken(token).build());
                started = true;
                nextToken = next.nextPageToken().orElse(null);
                if (nextToken != null && nextToken.equals(token)) {
                    throw new TimerKernelException("the server gave the same page token twice: " + token);
                }

                page = next.timers().iterator();
            }

            return page.hasNext();
        }

        @Override
        public Timer next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }

            return page.next();
        }
    }

    // -- building -----------------------------------------------------------------------

    /** Builds a {@link TimerClient}; every setting has a default. */
    public static final class Builder {
        private String baseUrl = DEFAULT_BASE_URL;
        private String token;
        private Duration timeout = DEFAULT_TIMEOUT;
        private String userAgent;
        private int maxRetries = DEFAULT_MAX_RETRIES;
        private Duration initialBackoff = DEFAULT_INITIAL_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private HttpClient httpClient;
        private Pause pause = Pause.REAL;
        private Clock clock = Clock.systemUTC();
        private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

        private Builder() {}

        /**
         * @param baseUrl the server's URL, {@code http} or {@code https}, with a path prefix if
         *     a proxy adds one; {@value TimerClient#DEFAULT_BASE_URL} unless set
         * @return this builder
         * @throws IllegalArgumentException if it is not an absolute http or https URL
         */
        public Builder baseUrl(String baseUrl) {
            Objects.requireNonNull(baseUrl, "baseUrl");
            URI uri;
            try {
                uri = new URI(baseUrl);
            } catch (URISyntaxException exc) {
                throw new IllegalArgumentException("not a URL: " + baseUrl, exc);
            }

            if (!"http".equalsIgnoreCase(uri.getScheme()) && !"https".equalsIgnoreCase(uri.getScheme())
                    || uri.getHost() == null
                    || uri.getQuery() != null
                    || uri.getFragment() != null) {
                throw new IllegalArgumentException("not an absolute http or https URL without a query: " + baseUrl);
            }

            this.baseUrl = baseUrl.replaceAll("/+$", "");
            return this;
        }

        /**
         * @param token the bearer token, sent as {@code Authorization: Bearer <token>}; null
         *     for none
         * @return this builder
         */
        public Builder token(String token) {
            this.token = token;
            return this;
        }

        /**
         * @param timeout the timeout of each attempt, from sending the request to reading the
         *     whole answer; 30 s unless set
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            if (Objects.requireNonNull(timeout, "timeout").isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("the timeout must be positive");
            }

            this.timeout = timeout;
            return this;
        }

        /**
         * @param userAgent the application's own product token, such as {@code billing/2.3},
         *     sent before the SDK's ({@code billing/2.3 timerkernel-java/0.1.0}); null for the
         *     SDK's alone
         * @return this builder
         */
        public Builder userAgent(String userAgent) {
            this.userAgent = userAgent == null || userAgent.isBlank() ? null : userAgent.trim();
            return this;
        }

        /**
         * @param maxRetries how many times a call that is safe to repeat is retried after its
         *     first attempt; 3 unless set, 0 for none
         * @return this builder
         */
        public Builder maxRetries(int maxRetries) {
            if (maxRetries < 0) {
                throw new IllegalArgumentException("maxRetries cannot be negative");
            }

            this.maxRetries = maxRetries;
            return this;
        }

        /**
         * @param initial the cap on the first wait between attempts; 0.2 s unless set
         * @param max the cap on any wait, and on a {@code Retry-After} honoured; 5 s unless set
         * @return this builder
         */
        public Builder retryBackoff(Duration initial, Duration max) {
            Objects.requireNonNull(initial, "initial");
            Objects.requireNonNull(max, "max");
            if (initial.isNegative() || max.compareTo(initial) < 0) {
                throw new IllegalArgumentException("the backoff needs 0 <= initial <= max");
            }

            this.initialBackoff = initial;
            this.maxBackoff = max;
            return this;
        }

        /**
         * Uses this HTTP client, for proxies, TLS settings or an executor of the caller's. Its
         * own connect timeout and redirect policy apply; the client made otherwise speaks
         * HTTP/1.1 and follows no redirects.
         *
         * @param httpClient the HTTP client, or null to make one
         * @return this builder
         */
        public Builder httpClient(HttpClient httpClient) {
            this.httpClient = httpClient;
            return this;
        }

        Builder pause(Pause pause) {
            this.pause = Objects.requireNonNull(pause, "pause");
            return this;
        }

        Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        Builder random(DoubleSupplier random) {
            this.random = Objects.requireNonNull(random, "random");
            return this;
        }

        /**
         * @return the client
         */
        public TimerClient build() {
            return new TimerClient(this);
        }
    }
}
