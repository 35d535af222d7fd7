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
	"sync"
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
)

// serverBackedExamples are skipped when no server can be found outside CI,
// as an example cannot skip itself.
const serverBackedExamples = "^Example(Client_|NewWebhookHandler|Reschedule|IsError)"

var (
	serverOnce sync.Once
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
	if _, err := serverCommand(); !errors.Is(err, errNoServer) {
		// Started here rather than on first use, as the examples need it
		// and cannot ask for it.
		serverOnce.Do(func() { serverURL, serverErr = startServer() })
		if serverErr != nil {
			fmt.Fprintln(os.Stderr, "starting the timer server:", serverErr)
		}
	} else if os.Getenv("CI") != "true" {
		if skip := flag.Lookup("test.skip"); skip != nil {
			pattern := serverBackedExamples
			if given := skip.Value.String(); given != "" {
				pattern = given + "|" + pattern
			}

			_ = skip.Value.Set(pattern)
		}
	}

	code := m.Run()
	stopServer()
	os.Exit(code)
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

// integrationServer returns the base URL of the running server, starting it
// on first use; it skips or fails t when there is no server to start.
func integrationServer(t testing.TB) string {
	t.Helper()
	if _, err := serverCommand(); errors.Is(err, errNoServer) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the integration tests need the timer server in CI: %v", err)
		}

		t.Skipf("no timer server to test against: %v", err)
	}

	serverOnce.Do(func() { serverURL, serverErr = startServer() })
	if serverErr != nil {
		t.Fatalf("starting the timer server: %v", serverErr)
	}

	return serverURL
}

func startServer() (string, error) {
	command, err := serverCommand()
	if err != nil {
		return "", err
	}

	serverDir, err = os.MkdirTemp("", "timers-sdk-go-")
	if err != nil {
		return "", err
	}

	port, err := freePort()
	if err != nil {
		return "", err
	}

	logFile, err := os.Create(filepath.Join(serverDir, "server.log"))
	if err != nil {
		return "", err
	}
	defer logFile.Close()

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
	go func() {
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "timerserver exited: %v\n", err)
		}

		close(serverDone)
	}()

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(url); err != nil {
		return "", fmt.Errorf("%w\nserver log:\n%s", err, serverLog())
	}

	baseURL = url
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
	listener, err := net.Listen("tcp", "127.0.0.1:0")
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
			return errors.New("the server exited before it was ready")
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

// stopServer sends SIGTERM and waits; after stopTimeout it kills.
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
	_ = os.RemoveAll(serverDir)
}

func serverLog() string {
	data, err := os.ReadFile(filepath.Join(serverDir, "server.log"))
	if err != nil {
		return err.Error()
	}

	return strings.TrimSpace(string(data))
}
