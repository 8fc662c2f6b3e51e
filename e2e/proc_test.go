package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// projectorProc is a projector serve child process.
type projectorProc struct {
	cmd     *exec.Cmd
	addr    string // http://host:port
	done    chan error
	serving chan string // the HTTP address, once it serves

	mu  sync.Mutex
	log strings.Builder
}

var httpAddrLine = regexp.MustCompile(`msg="serving HTTP" addr=(\S+)`)

// mustStartProjector starts `projector serve` against natsURL (empty: its
// embedded NATS server) with extra flags, later ones overriding earlier
// ones, and waits until it serves HTTP. Hosts count as stale only after an
// hour unless args set --heartbeat-interval, so that tests which do not
// test staleness are not raced by the sweeper. The process is killed when the test
// ends if it is still running.
func mustStartProjector(tb testing.TB, natsURL string, args ...string) *projectorProc {
	tb.Helper()
	p := startProjector(tb, natsURL, args...)
	p.mustServe(tb, 30*time.Second)
	return p
}

// startProjector starts `projector serve` like mustStartProjector without
// waiting for it: several projectors whose setup waits for each other (the
// nodes of one cluster) start together, then mustServe waits for each.
func startProjector(tb testing.TB, natsURL string, args ...string) *projectorProc {
	tb.Helper()
	args = append([]string{"serve", "--nats-url", natsURL, "--http", "127.0.0.1:0", "--heartbeat-interval", "1h"}, args...)
	cmd := exec.Command(projectorBin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	p := &projectorProc{cmd: cmd, done: make(chan error, 1), serving: make(chan string, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := httpAddrLine.FindStringSubmatch(line); m != nil {
				p.serving <- m[1]
			}
		}
	}()
	go func() {
		<-scanned
		p.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("projector log:\n%s", p.logs())
		}
	})
	return p
}

// mustServe waits until the projector serves HTTP.
func (p *projectorProc) mustServe(tb testing.TB, total time.Duration) {
	tb.Helper()
	select {
	case a := <-p.serving:
		p.addr = a
	case err := <-p.done:
		tb.Fatalf("projector exited before serving: %v\n%s", err, p.logs())
	case <-time.After(total):
		tb.Fatalf("projector not serving after %v:\n%s", total, p.logs())
	}
}

func (p *projectorProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL and waits for the process to end.
func (p *projectorProc) kill(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// stop sends SIGTERM and requires a clean exit.
func (p *projectorProc) stop(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(tb, err, "projector exit")
	case <-time.After(30 * time.Second):
		tb.Fatal("projector did not stop within 30s of SIGTERM")
	}
}

// get fetches path from the projector's HTTP server.
func (p *projectorProc) get(path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// ready returns nil once /readyz answers 200.
func (p *projectorProc) ready() error {
	code, body, err := p.get("/readyz")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("readyz %d: %s", code, body)
	}
	return nil
}

// settled returns nil once no label request is held or in flight.
func (p *projectorProc) settled() error {
	code, body, err := p.get("/metrics")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("metrics %d", code)
	}
	for _, gauge := range []string{"latticestate_label_requests_in_flight", "latticestate_intents_held"} {
		if !strings.Contains(string(body), "\n"+gauge+" 0\n") {
			return fmt.Errorf("%s is not 0", gauge)
		}
	}
	return nil
}
