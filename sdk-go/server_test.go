package timers_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The integration tests and the examples run against a real timerserver,
// one per test binary, started before the tests and stopped after them.
// The executable is $TIMERSDK_SERVER, else timerserver on PATH; without
// either the integration tests skip, unless CI is "true", where they fail.

const (
	serverSecret = "whsec_integration_7f3a"
	readyTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
	// startTries bounds the starts of the server: another process may take
	// the free port between the moment it is picked and the server's bind.
	startTries = 3
)

// serverBackedExamples are skipped whenever the test server is not running,
// as an example cannot skip itself: they would otherwise reach whatever
// listens on the default address.
const serverBackedExamples = "^Example(Client_|NewWebhookHandler|Reschedule|IsError)"

var (
	serverURL  string
	serverErr  error
	serverProc *exec.Cmd
	serverDone chan struct{}
	serverDir  string
	// baseURL and signingSecret are what the examples use: the address of
	// the server and the secret it signs callbacks with.
	baseURL       = "http://127.0.0.1:8080"
	signingSecret = serverSecret
)

func TestMain(m *testing.M) {
	flag.Parse()

	// Started here rather than on first use, as the examples need it and
	// cannot ask for it.
	command, err := serverCommand()
	if err == nil {
		serverURL, err = startServer(command)
	}

	serverErr = err

	if serverErr != nil {
		skipServerBackedExamples()
	}

	code := m.Run()
	stopServer()
	if serverDir != "" {
		_ = os.RemoveAll(serverDir)
	}

	// A server that was asked for, or that CI needs, and is not running
	// fails the run even when no integration test was selected.
	if serverErr != nil && (!errors.Is(serverErr, errNoServer) || os.Getenv("CI") == "true") {
		fmt.Fprintln(os.Stderr, "FAIL: the integration tests need the timer server:", serverErr)
		code = max(code, 1)
	}

	os.Exit(code)
}

func skipServerBackedExamples() {
	skip := flag.Lookup("test.skip")
	if skip == nil {
		return
	}

	pattern := serverBackedExamples
	if given := skip.Value.String(); given != "" {
		pattern = given + "|" + pattern
	}

	_ = skip.Value.Set(pattern)
}

// errNoServer means that no server was asked for nor found: the one case in
// which the integration tests may skip. A TIMERSDK_SERVER that is set but
// unusable is a mistake to report, not a reason to skip.
var errNoServer = errors.New("TIMERSDK_SERVER is not set and timerserver is not on PATH")

// serverCommand finds the timerserver executable.
func serverCommand() (string, error) {
	if command := os.Getenv("TIMERSDK_SERVER"); command != "" {
		if !filepath.IsAbs(command) {
			return "", fmt.Errorf("TIMERSDK_SERVER must be an absolute path, not %q", command)
		}

		if _, err := os.Stat(command); err != nil {
			return "", fmt.Errorf("TIMERSDK_SERVER: %w", err)
		}

		return command, nil
	}

	command, err := exec.LookPath("timerserver")
	if err != nil {
		return "", errNoServer
	}

	return command, nil
}

// integrationServer returns the base URL of the running server; it skips or
// fails t when there is none.
func integrationServer(t testing.TB) string {
	t.Helper()
	switch {
	case serverErr == nil:
		return serverURL
	case errors.Is(serverErr, errNoServer) && os.Getenv("CI") != "true":
		t.Skipf("no timer server to test against: %v", serverErr)
	case errors.Is(serverErr, errNoServer):
		t.Fatalf("CI is true, so the integration tests must run: %v", serverErr)
	default:
		t.Fatalf("starting the timer server: %v", serverErr)
	}

	return ""
}

// startServer starts the server on a free port, trying again on another one
// if the server exits before it is ready.
func startServer(command string) (string, error) {
	var err error
	serverDir, err = os.MkdirTemp("", "timers-sdk-go-")
	if err != nil {
		return "", err
	}

	for try := 1; ; try++ {
		url, err := startServerOnce(command)
		if err == nil {
			baseURL = url
			return url, nil
		}

		if !errors.Is(err, errExitedEarly) || try == startTries {
			return "", fmt.Errorf("%w\nserver log:\n%s", err, serverLog())
		}
	}
}

var errExitedEarly = errors.New("the server exited before it was ready")

func startServerOnce(command string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}

	logFile, err := os.Create(filepath.Join(serverDir, "server.log"))
	if err != nil {
		return "", err
	}
	defer logFile.Close()

	// No context ends the server: stopServer does, with SIGTERM first.
	//nolint:noctx // exec.CommandContext would kill it instead.
	cmd := exec.Command(command, "serve",
		"--host", "127.0.0.1",
		"--port", fmt.Sprint(port),
		"--storage", "sqlite:///"+filepath.Join(serverDir, "timers.db"))
	// The temporary directory as working directory keeps a timerserver.toml
	// of the caller's from changing the server.
	cmd.Dir = serverDir
	cmd.Env = append(serverEnvironment(), "TIMERSERVER_CALLBACKS__SIGNING_SECRET="+serverSecret)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		return "", err
	}

	serverProc = cmd
	serverDone = make(chan struct{})
	go func(done chan struct{}) {
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "timerserver exited: %v\n", err)
		}

		close(done)
	}(serverDone)

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(url); err != nil {
		// A server that is up but not ready is stopped here, so that the
		// next try or the end of the run does not leave it behind.
		stopServer()
		return "", err
	}

	return url, nil
}

// serverEnvironment is this process's environment without the TIMERSERVER_
// variables: the server reads each of them as a setting, which would make
// the tests depend on the caller's shell.
func serverEnvironment() []string {
	var env []string
	for _, entry := range os.Environ() {
		if !strings.HasPrefix(entry, "TIMERSERVER_") {
			env = append(env, entry)
		}
	}

	return env
}

func freePort() (int, error) {
	listener, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()

	return listener.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls GET /readyz until it answers 200, the server exits, or
// readyTimeout passes.
func waitReady(url string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-serverDone:
			return errExitedEarly
		default:
		}

		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}

		time.Sleep(50 * time.Millisecond)
	}

	return fmt.Errorf("the server was not ready within %s", readyTimeout)
}

// stopServer sends SIGTERM to the running server and waits for it to exit;
// after stopTimeout it kills it.
func stopServer() {
	if serverProc == nil {
		return
	}

	_ = serverProc.Process.Signal(syscall.SIGTERM)
	select {
	case <-serverDone:
	case <-time.After(stopTimeout):
		fmt.Fprintln(os.Stderr, "timerserver did not stop after SIGTERM; killing it")
		_ = serverProc.Process.Kill()
		select {
		case <-serverDone:
		case <-time.After(stopTimeout):
			fmt.Fprintln(os.Stderr, "timerserver did not exit after SIGKILL")
		}
	}

	serverProc = nil
}

func serverLog() string {
	data, err := os.ReadFile(filepath.Join(serverDir, "server.log"))
	if err != nil {
		return err.Error()
	}

	return strings.TrimSpace(string(data))
}
