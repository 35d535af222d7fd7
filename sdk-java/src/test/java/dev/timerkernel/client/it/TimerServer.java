package dev.timerkernel.client.it;

import dev.timerkernel.client.TimerClient;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * The real timer server, started once per test run on a free loopback port with its own SQLite
 * file and signing secret, and stopped with SIGTERM when the run ends.
 *
 * <p>The executable is {@code $TIMERSDK_SERVER}, else {@code timerserver} on the PATH.
 * Without either the tests are skipped, except under {@code CI=true}, where they fail.
 */
public final class TimerServer implements BeforeEachCallback, ParameterResolver, AutoCloseable {
    private static final Duration READY_WITHIN = Duration.ofSeconds(10);
    private static final Duration STOP_WITHIN = Duration.ofSeconds(10);

    private Process process;
    private Path directory;
    private Path log;
    private String baseUrl;
    private String secret;

    /** The extension's constructor; the first test that uses it starts the server. */
    public TimerServer() {}

    @Override
    public void beforeEach(ExtensionContext context) {
        // Locating first lets a missing server skip each test (or fail it under CI) plainly.
        String command = locate();
        shared(context, command);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == TimerServer.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return shared(context, null);
    }

    private static TimerServer shared(ExtensionContext context, String command) {
        return context.getRoot()
                .getStore(ExtensionContext.Namespace.create(TimerServer.class))
                .getOrComputeIfAbsent("launch", key -> Launch.of(command), Launch.class)
                .server();
    }

    /**
     * The run's one attempt to start the server. A failure is kept, so that every later test
     * fails at once with it instead of waiting for a server of its own.
     */
    private static final class Launch implements AutoCloseable {
        private final TimerServer server;
        private final RuntimeException failure;

        private Launch(TimerServer server, RuntimeException failure) {
            this.server = server;
            this.failure = failure;
        }

        static Launch of(String command) {
            try {
                return new Launch(start(command), null);
            } catch (RuntimeException exc) {
                return new Launch(null, exc);
            }
        }

        TimerServer server() {
            if (failure != null) {
                throw new IllegalStateException(
                        "the timer server did not start for this run: " + failure.getMessage(), failure);
            }

            return server;
        }

        @Override
        public void close() {
            if (server != null) {
                server.close();
            }
        }
    }

    /** The server's URL, such as {@code http://127.0.0.1:40123}. */
    public String baseUrl() {
        return baseUrl;
    }

    /** The secret the server signs callbacks with. */
    public String secret() {
        return secret;
    }

    /** A client of this server, with a short timeout. */
    public TimerClient client() {
        return TimerClient.builder()
                .baseUrl(baseUrl)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    private static TimerServer start(String command) {
        if (command == null) {
            throw new IllegalStateException("the timer server is started before each test");
        }

        TimerServer server = new TimerServer();
        try {
            server.launch(command);
        } catch (IOException exc) {
            server.close();
            throw new IllegalStateException("the timer server did not start: " + exc, exc);
        } catch (InterruptedException exc) {
            Thread.currentThread().interrupt();
            server.close();
            throw new IllegalStateException("interrupted while starting the timer server", exc);
        } catch (RuntimeException exc) {
            server.close();
            throw exc;
        }

        return server;
    }

    private static String locate() {
        String configured = System.getenv("TIMERSDK_SERVER");
        if (configured != null && !configured.isBlank()) {
            if (!Files.isExecutable(Paths.get(configured))) {
                throw new IllegalStateException("TIMERSDK_SERVER is not an executable file: " + configured);
            }

            return configured;
        }

        String path = System.getenv("PATH");
        if (path != null) {
            for (String entry : path.split(File.pathSeparator)) {
                Path candidate = Paths.get(entry, "timerserver");
                if (!entry.isEmpty() && Files.isExecutable(candidate)) {
                    return candidate.toString();
                }
            }
        }

        String reason = "no timer server: set TIMERSDK_SERVER to the timerserver executable,"
                + " or put timerserver on the PATH";
        if ("true".equals(System.getenv("CI"))) {
            throw new IllegalStateException(reason + " (CI=true, so the integration tests fail instead of skipping)");
        }

        Assumptions.abort(reason);
        throw new AssertionError("unreachable");
    }

    private void launch(String command) throws IOException, InterruptedException {
        directory = Files.createTempDirectory("timerkernel-java-it");
        log = directory.resolve("server.log");
        secret = "whsec_" + randomHex();
        int port = freePort();
        baseUrl = "http://127.0.0.1:" + port;

        ProcessBuilder builder = new ProcessBuilder(
                        command,
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        Integer.toString(port),
                        "--storage",
                        "sqlite:///" + directory.resolve("timers.db").toAbsolutePath())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        // The server takes every TIMERSERVER_* variable as a setting: the caller's own
        // settings would change the server the tests expect.
        builder.environment().keySet().removeIf(name -> name.startsWith("TIMERSERVER_"));
        builder.environment().put("TIMERSERVER_CALLBACKS__SIGNING_SECRET", secret);
        process = builder.start();
        // A backstop for a JVM that ends without closing the test run's store.
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));

        awaitReady();
    }

    private void awaitReady() throws InterruptedException {
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(1))
                .build();
        HttpRequest ready = HttpRequest.newBuilder(URI.create(baseUrl + "/readyz"))
                .timeout(Duration.ofSeconds(1))
                .GET()
                .build();
        long deadline = System.nanoTime() + READY_WITHIN.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(
                        "the timer server exited with " + process.exitValue() + " before it was ready:\n" + logTail());
            }

            try {
                if (http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // Not listening yet: poll again.
            }

            Thread.sleep(100);
        }

        throw new IllegalStateException(
                "the timer server was not ready within " + READY_WITHIN.getSeconds() + " s:\n" + logTail());
    }

    /** The server's last lines of log, for failure messages. */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException | RuntimeException exc) {
            return "(no log: " + exc + ")";
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(STOP_WITHIN.toMillis(), TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException exc) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }

        deleteDirectory();
    }

    private void deleteDirectory() {
        if (directory == null) {
            return;
        }

        List<Path> paths = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(directory)) {
            walk.sorted(Comparator.reverseOrder()).forEach(paths::add);
        } catch (IOException exc) {
            return;
        }

        for (Path path : paths) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException exc) {
                // A leftover file in the temporary directory harms nothing.
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static String randomHex() {
        byte[] bytes = new byte[16];
        new SecureRandom().nextBytes(bytes);
        StringBuilder hex = new StringBuilder();
        for (byte b : bytes) {
            hex.append(String.format("%02x", b));
        }

        return hex.toString();
    }
}
