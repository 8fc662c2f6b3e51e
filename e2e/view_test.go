package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// viewSoak reports whether the long versions of the view's load tests run
// (LATTICESTATE_SOAK=1).
func viewSoak() bool { return os.Getenv("LATTICESTATE_SOAK") == "1" }

// latticeGauge is one sample of a lattice gauge in /metrics.
var latticeGauge = regexp.MustCompile(`^(latticestate_lattice_\w+)\{([^}]*)\} (\S+)$`)

// mustLatticeGauges scrapes the lattice gauges: "name{labels}" → value.
func mustLatticeGauges(tb testing.TB, p *projectorProc) map[string]float64 {
	tb.Helper()
	code, body, err := p.get("/metrics")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		m := latticeGauge.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(tb, err, line)
		out[m[1]+"{"+m[2]+"}"] = v
	}
	return out
}

// gaugesFromAPI computes the lattice gauges from what the API serves: every
// lattice's hosts, by status, their actor instances and providers by
// status.
func gaugesFromAPI(tb testing.TB, p *projectorProc) map[string]float64 {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	var lattices []string
	require.NoError(tb, json.Unmarshal(body, &lattices))
	out := map[string]float64{}
	for _, l := range lattices {
		code, body, err := p.get("/api/v1/lattices/" + l + "/hosts")
		require.NoError(tb, err)
		require.Equal(tb, 200, code)
		var hosts []*projections.Host
		require.NoError(tb, json.Unmarshal(body, &hosts))
		if len(hosts) == 0 {
			continue
		}
		instances := 0.0
		for _, h := range hosts {
			out[fmt.Sprintf(`latticestate_lattice_hosts{lattice=%q,status=%q}`, l, h.Status)]++
			for _, a := range h.Actors {
				instances += float64(a.Count)
			}
			for _, pr := range h.Providers {
				out[fmt.Sprintf(`latticestate_lattice_providers{lattice=%q,status=%q}`, l, pr.Status)]++
			}
		}
		out[fmt.Sprintf(`latticestate_lattice_actor_instances{lattice=%q}`, l)] = instances
	}
	return out
}

// loadWatcher is one /watch client of the load test: it follows the stream
// with as little work as it can (no JSON decoding, no allocation per
// event), keeping the seq of the latest document of each host; a silent
// one never reads after the headers.
type loadWatcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	ready      bool
	events     int
	resyncs    int
	ended      bool
	lastRev    uint64
	outOfOrder int
	seqs       []uint64 // by host index: the seq of the latest document
	// What the client saw of each host, initial document included: how
	// many documents, the sum of their seqs, the first seq; every seq when
	// record is set (the reference client).
	counts, sums, firsts []uint64
	record               bool
	seen                 [][]uint64
}

// checkContiguous reports whether w saw, for every host, every document
// the reference client saw from w's first to its last, and nothing else:
// the changes of each host contiguous, none skipped.
func (w *loadWatcher) checkContiguous(ref *loadWatcher) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, seqs := range ref.seen {
		if w.counts[i] == 0 {
			return fmt.Errorf("host %d: no document", i)
		}
		a, okA := slices.BinarySearch(seqs, w.firsts[i])
		b, okB := slices.BinarySearch(seqs, w.seqs[i])
		if !okA || !okB {
			return fmt.Errorf("host %d: seqs %d..%d not both seen by the reference client", i, w.firsts[i], w.seqs[i])
		}
		var sum uint64
		for _, seq := range seqs[a : b+1] {
			sum += seq
		}
		if n := uint64(b - a + 1); n != w.counts[i] || sum != w.sums[i] {
			return fmt.Errorf("host %d: %d documents from seq %d to %d, the reference client saw %d", i, w.counts[i], w.firsts[i], w.seqs[i], n)
		}
	}
	return nil
}

var hostIDPrefix = []byte(`{"host_id":"`)

// docSeq reads the seq that ends a host document (…,"seq":N}).
func docSeq(doc []byte) uint64 {
	i := bytes.LastIndex(doc, []byte(`"seq":`))
	if i < 0 || len(doc) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(string(bytes.TrimSuffix(doc[i+6:], []byte("}"))), 10, 64)
	return n
}

// startLoadWatcher connects a client that follows hosts (index by id); it
// may run on any goroutine.
func startLoadWatcher(client *http.Client, url string, hosts map[string]int, silent, record bool) (*loadWatcher, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &loadWatcher{cancel: cancel, done: make(chan struct{}), seqs: make([]uint64, len(hosts)),
		counts: make([]uint64, len(hosts)), sums: make([]uint64, len(hosts)), firsts: make([]uint64, len(hosts)), record: record}
	if record {
		w.seen = make([][]uint64, len(hosts))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("watch: %s", resp.Status)
	}
	go func() {
		defer close(w.done)
		defer resp.Body.Close()
		if silent {
			<-ctx.Done()
			return
		}
		r := bufio.NewReaderSize(resp.Body, 64<<10)
		var id uint64
		var event []byte
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				w.mu.Lock()
				w.ended = true
				w.mu.Unlock()
				return
			}
			line = line[:len(line)-1]
			switch {
			case bytes.HasPrefix(line, []byte("id: ")):
				id, _ = strconv.ParseUint(string(line[4:]), 10, 64)
			case bytes.HasPrefix(line, []byte("event: ")):
				event = append(event[:0], line[7:]...)
			case bytes.HasPrefix(line, []byte("data: ")) && string(event) == "host":
				data := line[6:]
				if bytes.HasPrefix(data, hostIDPrefix) && len(data) > len(hostIDPrefix)+56 {
					if i, ok := hosts[string(data[len(hostIDPrefix):len(hostIDPrefix)+56])]; ok {
						seq := docSeq(data)
						w.mu.Lock()
						if w.counts[i] > 0 && seq <= w.seqs[i] {
							w.outOfOrder++
						}
						if w.counts[i] == 0 {
							w.firsts[i] = seq
						}
						w.counts[i]++
						w.sums[i] += seq
						w.seqs[i] = seq
						if w.record {
							w.seen[i] = append(w.seen[i], seq)
						}
						w.mu.Unlock()
					}
				}
			case len(line) == 0 && len(event) > 0:
				w.mu.Lock()
				switch string(event) {
				case "ready":
					w.ready = true
				case "resync":
					w.resyncs++
				case "host", "delete":
					if w.ready {
						w.events++
						if id <= w.lastRev {
							w.outOfOrder++
						}
						w.lastRev = id
					}
				}
				w.mu.Unlock()
				event = event[:0]
			}
		}
	}()
	return w, nil
}

func (w *loadWatcher) stop() {
	w.cancel()
	<-w.done
}

// processCPU is the CPU time a process has used (user and system).
func processCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(tb, err)
	// The fields after the command (which may hold spaces) start after
	// its closing parenthesis; utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ticks := 0
	for _, v := range f[11:13] {
		n, err := strconv.Atoi(v)
		require.NoError(tb, err)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// processRSS is the resident memory of a process, in bytes.
func processRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(tb, err)
			return kb << 10
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// metricValue reads one unlabelled sample from /metrics.
func metricValue(tb testing.TB, p *projectorProc, name string) float64 {
	tb.Helper()
	code, body, err := p.get("/metrics")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			require.NoError(tb, err)
			return v
		}
	}
	tb.Fatalf("no %s in /metrics", name)
	return 0
}

// TestServe_WatchersUnderLoad: many /watch clients, a few of which never
// read, while 500 events a second arrive at serve's embedded NATS server.
// The projector's connection is never cut as a slow consumer, /readyz
// stays 200 (or recovers within 1 s),
// every reading client ends with the state the API serves (or was told to
// resync), and once they leave the server's goroutines and memory come
// back. 50 clients (2 silent) for 5 s; 1,000 (10 silent) for 60 s with
// LATTICESTATE_SOAK=1.
func TestServe_WatchersUnderLoad(t *testing.T) {
	clients, silent, dur := 50, 2, 5*time.Second
	if viewSoak() {
		clients, silent, dur = 1000, 10, 60*time.Second
	}
	const hosts, rate = 100, 500
	// serve with its embedded NATS server, as by default: the clients in
	// this process do not slow the server down, and the server's own log
	// says whether it cut a connection as a slow consumer.
	natsPort := freePort(t)
	p := mustStartProjector(t, "", "--nats-listen", "127.0.0.1:"+natsPort, "--data-dir", t.TempDir(),
		"--server-logs", "--max-watchers", strconv.Itoa(clients))
	nc, _ := natstest.MustConnectURL(t, "nats://127.0.0.1:"+natsPort)
	var lines [][]byte
	index := map[string]int{}
	for i := range hosts {
		index[eventtest.HostID(i)] = i
		lines = append(lines, eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprint("h", i), Version: "1.0.0", Labels: map[string]string{"zone": "a"}},
			Actors:   map[string]uint64{"MECHO": 1}}))
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	waitCaughtUp(t, p, 30*time.Second)
	pid := p.cmd.Process.Pid

	// The baseline is the projector under the load, warmed up, without
	// watchers; the load runs until they have left and it is measured again.
	stopLoad := startHeartbeats(t, nc, lines, rate)
	time.Sleep(2 * time.Second)
	baseGoroutines := metricValue(t, p, "go_goroutines")
	baseRSS := processRSS(t, pid)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	url := p.addr + "/api/v1/lattices/default/watch"
	// The first clients, connected before the others, record every
	// document they see: the first of them the server did not drop is the
	// reference the others are compared with.
	const recorders = 10
	var recording []*loadWatcher
	for range recorders {
		w, err := startLoadWatcher(client, url, index, false, true)
		require.NoError(t, err)
		t.Cleanup(w.stop)
		recording = append(recording, w)
	}
	// Clients connect 50 at a time.
	watchers := make([]*loadWatcher, clients-recorders)
	errs := make([]error, len(watchers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	connectStart := time.Now()
	for i := range watchers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			watchers[i], errs[i] = startLoadWatcher(client, url, index, i < silent, false)
		})
	}
	wg.Wait()
	connected := time.Since(connectStart)
	for _, w := range watchers {
		if w != nil {
			t.Cleanup(w.stop)
		}
	}
	require.NoError(t, errors.Join(errs...))
	// One more is one too many, unless the server dropped one since.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	cancel()
	if resp.StatusCode != http.StatusServiceUnavailable {
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Positive(t, metricValue(t, p, `latticestate_watchers_dropped_total{reason="slow"}`), "a watcher beyond the maximum")
	}
	peakRSS := processRSS(t, pid)
	peakGoroutines := metricValue(t, p, "go_goroutines")

	cpuStart, testCPUStart, wallStart := processCPU(t, pid), processCPU(t, os.Getpid()), time.Now()
	// /readyz, every 100 ms: the longest time it was not 200.
	var since time.Time // when /readyz last stopped answering 200
	var worst time.Duration
	samples, bad := 0, 0
	var notReadyAnswers []string
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		samples++
		if err := p.ready(); err != nil {
			if bad++; bad%20 == 1 {
				notReadyAnswers = append(notReadyAnswers, err.Error())
			}
			if since.IsZero() {
				since = time.Now()
			}
			worst = max(worst, time.Since(since))
		} else {
			since = time.Time{}
		}
		peakRSS = max(peakRSS, processRSS(t, pid))
	}
	wall := time.Since(wallStart)
	serveCPU, testCPU := processCPU(t, pid)-cpuStart, processCPU(t, os.Getpid())-testCPUStart
	sent := stopLoad()
	waitCaughtUp(t, p, 30*time.Second)

	// With the load paused, every reading client catches up with the state
	// the API serves, or was told to resync: then they all saw each host up
	// to the same document.
	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var final []json.RawMessage
	require.NoError(t, json.Unmarshal(body, &final))
	require.Len(t, final, hosts)
	want := make([]uint64, hosts)
	for _, d := range final {
		want[index[string(d[len(hostIDPrefix):len(hostIDPrefix)+56])]] = docSeq(d)
	}
	current := func(w *loadWatcher) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.resyncs > 0 {
			return nil
		}
		if w.ended {
			return fmt.Errorf("stream ended without resync")
		}
		for i, seq := range want {
			if w.seqs[i] < seq {
				return fmt.Errorf("host %d at seq %d, not %d", i, w.seqs[i], seq)
			}
		}
		return nil
	}
	reading := append(slices.Clone(recording), watchers[silent:]...)
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		for i, w := range reading {
			if err := current(w); err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
		}
		return nil
	})
	// Each reading client saw every document of every host from its
	// first to the current one, in order, or was told to resync.
	var ref *loadWatcher
	for _, w := range recording {
		w.mu.Lock()
		if ref == nil && w.resyncs == 0 {
			ref = w
		}
		w.mu.Unlock()
	}
	resynced, events := 0, 0
	// Clients that saw the same first document of a host and were not
	// dropped saw the same documents of it since: as many, with the same
	// seqs (their sum). By host: first seq → what the first such client
	// saw.
	type hostRun struct{ count, sum uint64 }
	runs := make([]map[uint64]hostRun, hosts)
	for i := range runs {
		runs[i] = map[uint64]hostRun{}
	}
	var gaps []error
	compared := 0
	for i, w := range reading {
		w.mu.Lock()
		if w.outOfOrder > 0 {
			gaps = append(gaps, fmt.Errorf("client %d: %d changes out of revision order or a host's seq not increasing", i, w.outOfOrder))
		}
		if w.resyncs > 0 {
			resynced++
		}
		events += w.events
		if w.resyncs == 0 {
			compared++
			for h := range hosts {
				r := hostRun{w.counts[h], w.sums[h]}
				if seen, ok := runs[h][w.firsts[h]]; !ok {
					runs[h][w.firsts[h]] = r
				} else if seen != r {
					gaps = append(gaps, fmt.Errorf("client %d: host %d from seq %d: %d documents, another client %d", i, h, w.firsts[h], r.count, seen.count))
				}
			}
		}
		w.mu.Unlock()
		if ref != nil && w != ref && w.resyncs == 0 {
			if err := w.checkContiguous(ref); err != nil {
				gaps = append(gaps, fmt.Errorf("client %d: %w", i, err))
			}
		}
	}
	dropped := metricValue(t, p, `latticestate_watchers_dropped_total{reason="slow"}`)
	// The clients leave, and memory is measured again, under the load.
	startHeartbeats(t, nc, lines, rate) // stopped at cleanup

	// serve's connections were never cut: the server reported no slow
	// consumer, and neither connection lost the server.
	for line := range strings.SplitSeq(p.logs(), "\n") {
		cut := strings.Contains(line, "Slow Consumer") && !strings.Contains(line, "Slow Consumer Recovered")
		require.False(t, cut && strings.Contains(line, "latticestate-projector"), line)
		require.NotContains(t, line, "NATS disconnected")
	}

	for _, w := range append(watchers, recording...) {
		w.stop() // again at cleanup: stop is idempotent
	}
	client.CloseIdleConnections()
	var afterGoroutines float64
	natstest.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		afterGoroutines = metricValue(t, p, "go_goroutines")
		if n := metricValue(t, p, "latticestate_watchers"); n != 0 {
			return fmt.Errorf("%v watchers left", n)
		}
		if afterGoroutines > baseGoroutines+10 {
			return fmt.Errorf("%v goroutines, %v before the clients", afterGoroutines, baseGoroutines)
		}
		return nil
	})
	// Memory comes back to within a quarter of what the clients added
	// (Go returns freed memory to the system gradually), give or take what
	// the stream, grown by the run's events, holds in the server's caches.
	rssBack := baseRSS + (peakRSS-baseRSS)/4 + 32<<20
	afterRSS := processRSS(t, pid)
	for deadline := time.Now().Add(60 * time.Second); afterRSS > rssBack && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		afterRSS = processRSS(t, pid)
	}
	t.Logf("%d watchers (%d silent, connected in %v) for %v, %d events published (%d/s): /readyz not 200 in %d of %d samples (longest %v); "+
		"%d events delivered to reading clients, %d of them resynced, %v dropped as slow; goroutines %v → %v → %v; RSS %d → %d → %d MB; "+
		"CPU of serve %.0f%%, of this test's clients, server and publisher %.0f%%",
		clients, silent, connected.Round(time.Millisecond), dur, sent, rate, bad, samples, worst, events, resynced, dropped,
		baseGoroutines, peakGoroutines, afterGoroutines, baseRSS>>20, peakRSS>>20, afterRSS>>20,
		100*serveCPU.Seconds()/wall.Seconds(), 100*testCPU.Seconds()/wall.Seconds())
	if len(notReadyAnswers) > 0 {
		t.Logf("/readyz when not 200 (every 20th): %q", notReadyAnswers)
	}
	t.Logf("%d reading clients not told to resync compared host by host (reference client: %v): %d gaps", compared, ref != nil, len(gaps))
	require.NoError(t, errors.Join(gaps...), "every reading client saw every change or was told to resync")
	require.LessOrEqual(t, afterRSS, rssBack, "RSS back after the clients left")
	require.Less(t, worst, time.Second, "/readyz recovers within 1 s")
	p.stop(t)
}

// TestServe_LatticeGauges: after a known sequence of events, every lattice
// gauge in /metrics equals the state the API serves; the series of a
// lattice whose hosts all stopped, and of a status no host has any more,
// are gone.
func TestServe_LatticeGauges(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, _ := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	httpP := eventtest.Provider{ID: "VHTTPSERVER", LinkName: "default", ContractID: "wasmcloud:httpserver"}
	kvP := eventtest.Provider{ID: "VKEYVALUE", LinkName: "cache", ContractID: "wasmcloud:keyvalue"}
	hb := func(i int, actors map[string]uint64, providers ...eventtest.Provider) []byte {
		return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
			HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprint("h", i), Version: "1.0.0", Labels: map[string]string{"zone": "a"}},
			Actors:   actors, Providers: providers})
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), [][]byte{
		hb(1, map[string]uint64{"MECHO": 3, "MKV": 1}, httpP, kvP),
		hb(2, map[string]uint64{"MECHO": 2}, httpP),
		hb(3, nil),
		eventtest.HealthCheck(eventtest.HostID(1), false, kvP),
		eventtest.HealthCheck(eventtest.HostID(2), true, httpP),
		eventtest.ActorStarted(eventtest.HostID(3), "MECHO"),
	})
	mustPublish(t, nc, streams.RecordedEventSubject("default", "host_stale"), [][]byte{eventtest.HostStale(eventtest.HostID(3))})
	mustPublish(t, nc, streams.HostEventSubject("edge"), [][]byte{hb(10, map[string]uint64{"MECHO": 1}, httpP)})
	waitCaughtUp(t, p, 30*time.Second)

	want := map[string]float64{
		`latticestate_lattice_hosts{lattice="default",status="stale"}`:         1,
		`latticestate_lattice_hosts{lattice="default",status="up"}`:            2,
		`latticestate_lattice_actor_instances{lattice="default"}`:              7,
		`latticestate_lattice_providers{lattice="default",status="Awaiting"}`:  1,
		`latticestate_lattice_providers{lattice="default",status="Healthy"}`:   1,
		`latticestate_lattice_providers{lattice="default",status="Unhealthy"}`: 1,
		`latticestate_lattice_hosts{lattice="edge",status="up"}`:               1,
		`latticestate_lattice_actor_instances{lattice="edge"}`:                 1,
		`latticestate_lattice_providers{lattice="edge",status="Awaiting"}`:     1,
	}
	require.Equal(t, want, gaugesFromAPI(t, p), "the sequence gives the state expected")
	require.Equal(t, want, mustLatticeGauges(t, p))

	// The edge lattice empties, the stale host comes back, the unhealthy
	// provider stops.
	mustPublish(t, nc, streams.HostEventSubject("edge"), [][]byte{eventtest.HostStopped(eventtest.HostID(10), nil)})
	mustPublish(t, nc, streams.HostEventSubject("default"), [][]byte{
		hb(3, map[string]uint64{"MECHO": 1}),
		eventtest.ProviderStopped(eventtest.HostID(1), kvP),
	})
	waitCaughtUp(t, p, 30*time.Second)
	want = map[string]float64{
		`latticestate_lattice_hosts{lattice="default",status="up"}`:           3,
		`latticestate_lattice_actor_instances{lattice="default"}`:             7,
		`latticestate_lattice_providers{lattice="default",status="Awaiting"}`: 1,
		`latticestate_lattice_providers{lattice="default",status="Healthy"}`:  1,
	}
	require.Equal(t, want, gaugesFromAPI(t, p))
	require.Equal(t, want, mustLatticeGauges(t, p))
	p.stop(t)
}
