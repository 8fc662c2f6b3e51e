package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/streams"
)

// hostileLabel would run script if the dashboard rendered data as markup.
const hostileLabel = `<img src=x onerror="document.title='pwned'">`

// fakeHost is an OTP host that publishes lifecycle events and, until it
// falls silent, heartbeats its current inventory.
type fakeHost struct {
	id   string
	info eventtest.HostInfo

	mu        sync.Mutex
	actors    map[string]uint64
	providers []eventtest.Provider
	silent    bool
}

// fakeLattice heartbeats its hosts on a NATS connection that survives
// restarts of the server.
type fakeLattice struct {
	nc      *nats.Conn
	subject string
	hosts   []*fakeHost
}

func now() eventtest.Option { return eventtest.Set("time", time.Now().UTC().Format(time.RFC3339Nano)) }

// startFakeLattice connects to url and heartbeats every host every interval
// until the test ends.
func startFakeLattice(tb testing.TB, url string, every time.Duration, hosts ...*fakeHost) *fakeLattice {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.ReconnectBufSize(16<<20))
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	l := &fakeLattice{nc: nc, subject: streams.HostEventSubject("default"), hosts: hosts}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			for _, h := range hosts {
				h.mu.Lock()
				if !h.silent {
					hb := eventtest.Heartbeat{HostInfo: h.info, Shape: eventtest.ActorList,
						Actors: maps.Clone(h.actors), Providers: slices.Clone(h.providers)}
					if err := nc.Publish(l.subject, eventtest.HostHeartbeat(h.id, hb, now())); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
						tb.Errorf("heartbeat %s: %v", h.info.FriendlyName, err)
					}
				}
				h.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return l
}

// change updates h and publishes the event that says so, atomically with
// respect to the heartbeats, so that no heartbeat contradicts the event.
func (l *fakeLattice) change(tb testing.TB, h *fakeHost, f func(h *fakeHost) []byte) {
	tb.Helper()
	h.mu.Lock()
	line := f(h)
	err := l.nc.Publish(l.subject, line)
	h.mu.Unlock()
	require.NoError(tb, err)
}

func (l *fakeLattice) publish(tb testing.TB, lines ...[]byte) {
	tb.Helper()
	for _, line := range lines {
		require.NoError(tb, l.nc.Publish(l.subject, line))
	}
}

func startActor(h *fakeHost, actor string) []byte {
	h.actors[actor]++
	return eventtest.ActorStarted(h.id, actor, now())
}

func stopActor(h *fakeHost, actor string) []byte {
	if h.actors[actor]--; h.actors[actor] == 0 {
		delete(h.actors, actor)
	}
	return eventtest.ActorStopped(h.id, actor, now())
}

func startProvider(p eventtest.Provider) func(h *fakeHost) []byte {
	return func(h *fakeHost) []byte {
		h.providers = append(h.providers, p)
		return eventtest.ProviderStarted(h.id, p, now())
	}
}

func stopProvider(p eventtest.Provider) func(h *fakeHost) []byte {
	return func(h *fakeHost) []byte {
		h.providers = slices.DeleteFunc(h.providers, func(q eventtest.Provider) bool { return q == p })
		return eventtest.ProviderStopped(h.id, p, now())
	}
}

// JavaScript expressions over the dashboard.
const (
	jsHostIDs    = `[...document.querySelectorAll('#hosts > li')].map(e => e.dataset.hostId)`
	jsVisibleIDs = `[...document.querySelectorAll('#hosts > li')].filter(e => !e.hidden).map(e => e.dataset.hostId)`
	jsConn       = `document.getElementById('conn').dataset.state`
)

func jsCard(id string) string {
	return `document.querySelector('#hosts > li[data-host-id=` + strconv.Quote(id) + `]')`
}

// jsCardHas is true when the host's card exists and its text contains s.
func jsCardHas(id, s string) string {
	return fmt.Sprintf(`(%s?.textContent ?? '').includes(%s)`, jsCard(id), strconv.Quote(s))
}

// setInput sets a form control as a user would and fires its events.
func setInput(id, value string) string {
	return fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %s;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`,
		id, strconv.Quote(value))
}

// TestDashboard_Live drives the dashboard of a real `projector serve` with
// its embedded NATS server through hosts coming, changing, stopping and
// going stale, filters, the links tab, a restart of the server, and the
// lattice as of an earlier stream sequence.
func TestDashboard_Live(t *testing.T) {
	page := mustBrowser(t, 1280, 900)
	dataDir := t.TempDir()
	natsPort, httpPort := freePort(t), freePort(t)
	serveArgs := []string{"--nats-listen", "127.0.0.1:" + natsPort, "--data-dir", dataDir,
		"--http", "127.0.0.1:" + httpPort, "--heartbeat-interval", "1s"}
	p := mustStartProjector(t, "", serveArgs...)

	host := func(i int, name, zone string) *fakeHost {
		return &fakeHost{id: eventtest.HostID(i), actors: map[string]uint64{},
			info: eventtest.HostInfo{FriendlyName: name, Version: "0.56.0", UptimeSeconds: 6063,
				UptimeHuman: "1 hour, 41 minutes", Labels: map[string]string{"zone": zone, "hostcore.os": "linux"}}}
	}
	alpha, bravo, charlie, delta := host(101, "alpha", "eu-west-1a"), host(102, "bravo", "us-east-1b"),
		host(103, "charlie", "eu-west-1a"), host(104, "delta", "us-east-1b")
	alpha.info.Labels["note"] = hostileLabel
	alpha.actors["MECHO"] = 2
	httpProvider := eventtest.Provider{ID: "VHTTPSERVER", LinkName: "default", ContractID: "wasmcloud:httpserver"}
	bravo.providers = []eventtest.Provider{httpProvider}
	lat := startFakeLattice(t, "nats://127.0.0.1:"+natsPort, 250*time.Millisecond, alpha, bravo, charlie, delta)
	lat.publish(t,
		eventtest.LinkdefSet(alpha.id, eventtest.Link{ActorID: "MECHO", ProviderID: "VHTTPSERVER", ContractID: "wasmcloud:httpserver",
			LinkName: "default", Values: map[string]string{"PORT": "8080"}}),
		eventtest.RefmapSet(alpha.id, "ghcr.io/example/echo:0.1.0", "MECHO"))

	require.NoError(t, lat.nc.Publish(streams.HostEventSubject("staging"), eventtest.HostHeartbeat(eventtest.HostID(201),
		eventtest.Heartbeat{HostInfo: eventtest.HostInfo{FriendlyName: "elsewhere", Labels: map[string]string{}}}, now())))

	page.do(t, chromedp.Navigate(p.addr+"/"))
	eval[bool](t, page, `window.notReloaded = true`)
	page.waitFor(t, "four hosts, connected", jsHostIDs+`.length === 4 && `+jsConn+` === 'connected'`, 20*time.Second)
	// The hostile label is shown as text and ran nothing.
	page.waitFor(t, "hostile label as text", jsCardHas(alpha.id, hostileLabel), 5*time.Second)
	require.Zero(t, eval[int](t, page, `document.querySelectorAll('#hosts img').length`))
	require.Equal(t, "latticestate", eval[string](t, page, `document.title`))
	page.screenshot(t, "hosts")

	// A point in the past for the as-of view: four hosts, alpha without the
	// web actor, charlie up.
	past := mustMaxSeq(t, p)

	charlie.mu.Lock()
	charlie.silent = true
	charlie.mu.Unlock()

	// Actors and providers start and stop; the page follows without reload.
	lat.change(t, alpha, func(h *fakeHost) []byte { return startActor(h, "MWEBUI") })
	kvProvider := eventtest.Provider{ID: "VKEYVALUE", LinkName: "cache", ContractID: "wasmcloud:keyvalue"}
	lat.change(t, alpha, startProvider(kvProvider))
	page.waitFor(t, "actor and provider started", jsCardHas(alpha.id, "MWEBUI")+` && `+jsCardHas(alpha.id, "wasmcloud:keyvalue"), 10*time.Second)
	lat.change(t, alpha, func(h *fakeHost) []byte { return eventtest.HealthCheck(h.id, false, kvProvider, now()) })
	page.waitFor(t, "provider unhealthy", jsCard(alpha.id)+`?.dataset.health === 'bad' && document.getElementById('total-unhealthy').textContent === '1'`, 10*time.Second)
	page.screenshot(t, "actor-and-provider-started")

	lat.change(t, alpha, func(h *fakeHost) []byte { return stopActor(h, "MWEBUI") })
	lat.change(t, alpha, stopProvider(kvProvider))
	page.waitFor(t, "actor and provider stopped", `!`+jsCardHas(alpha.id, "MWEBUI")+` && !`+jsCardHas(alpha.id, "wasmcloud:keyvalue")+
		` && `+jsCardHas(alpha.id, "MECHO"), 10*time.Second)

	// A host that stops goes; a silent one goes stale after 3 intervals.
	lat.change(t, delta, func(h *fakeHost) []byte {
		h.silent = true
		return eventtest.HostStopped(h.id, nil, now())
	})
	page.waitFor(t, "delta gone", `!`+jsCard(delta.id)+` && `+jsHostIDs+`.length === 3`, 10*time.Second)
	page.waitFor(t, "charlie stale", jsCard(charlie.id)+`?.dataset.status === 'stale' && document.getElementById('total-stale').textContent === '1'`, 15*time.Second)
	require.True(t, eval[bool](t, page, `window.notReloaded === true`), "the page reloaded")
	page.screenshot(t, "host-stopped-and-stale")

	// Filters: by label and by free text.
	page.do(t, chromedp.SendKeys(chromedp.ID("filter-label"), "zone=eu-west-1a"))
	page.waitFor(t, "label filter", jsVisibleIDs+`.sort().join() === `+strconv.Quote(strings.Join(slices.Sorted(slices.Values([]string{alpha.id, charlie.id})), ",")), 5*time.Second)
	page.screenshot(t, "label-filter")
	eval[bool](t, page, setInput("filter-label", ""))
	page.do(t, chromedp.SendKeys(chromedp.ID("filter-text"), "BRAV"))
	page.waitFor(t, "text filter", jsVisibleIDs+`.join() === `+strconv.Quote(bravo.id), 5*time.Second)
	eval[bool](t, page, setInput("filter-text", ""))
	page.waitFor(t, "filters cleared", jsVisibleIDs+`.length === 3`, 5*time.Second)

	// Links and ref maps on their own tab.
	page.do(t, chromedp.Click(chromedp.ID("tab-links")))
	page.waitFor(t, "links and ref maps", `document.querySelector('#links tbody').textContent.includes('wasmcloud:httpserver') &&
		document.querySelector('#refmaps tbody').textContent.includes('ghcr.io/example/echo:0.1.0')`, 10*time.Second)
	require.True(t, eval[bool](t, page, `document.getElementById('panel-hosts').hidden`))
	page.screenshot(t, "links")
	// The tabs are keyboard operable: arrows move between them.
	page.do(t, chromedp.Focus(chromedp.ID("tab-links")), chromedp.KeyEvent(kb.ArrowLeft))
	page.waitFor(t, "hosts tab by keyboard", `document.getElementById('tab-hosts').getAttribute('aria-selected') === 'true' &&
		document.activeElement.id === 'tab-hosts' && !document.getElementById('panel-hosts').hidden`, 5*time.Second)

	// Another lattice is one choice away.
	page.do(t, chromedp.Focus(chromedp.ID("lattice")))
	page.waitFor(t, "lattice listed", `[...document.getElementById('lattice').options].some(o => o.value === 'staging')`, 5*time.Second)
	eval[bool](t, page, setInput("lattice", "staging"))
	page.waitFor(t, "staging lattice", jsHostIDs+`.join() === `+strconv.Quote(eventtest.HostID(201))+` && location.search === '?lattice=staging'`, 10*time.Second)
	eval[bool](t, page, setInput("lattice", "default"))
	page.waitFor(t, "default lattice again", jsConn+` === 'connected' && `+jsHostIDs+`.length === 3`, 10*time.Second)

	// The server restarts on the same data: the page says it is
	// reconnecting, then catches up, changes made meanwhile included.
	p.stop(t)
	page.waitFor(t, "reconnecting", jsConn+` === 'reconnecting'`, 10*time.Second)
	page.screenshot(t, "server-down")
	lat.change(t, bravo, func(h *fakeHost) []byte { return startActor(h, "MDURINGRESTART") })
	p = mustStartProjector(t, "", serveArgs...)
	page.waitFor(t, "reconnected", jsConn+` === 'connected' && `+jsCardHas(bravo.id, "MDURINGRESTART")+` && `+jsHostIDs+`.length === 3`, 20*time.Second)
	require.True(t, eval[bool](t, page, `window.notReloaded === true`), "the page reloaded")
	page.screenshot(t, "reconnected")

	// As of the past sequence: delta is back, charlie up, no web actor.
	page.waitFor(t, "slider covers the past", `+document.getElementById('asof-seq').max > `+strconv.FormatUint(past, 10), 5*time.Second)
	eval[bool](t, page, setInput("asof-seq", strconv.FormatUint(past, 10)))
	page.waitFor(t, "as of the past", jsConn+` === 'paused' && `+jsHostIDs+`.length === 4 && !!`+jsCard(delta.id)+
		` && `+jsCard(charlie.id)+`.dataset.status === 'up' && !`+jsCardHas(alpha.id, "MWEBUI"), 10*time.Second)
	require.Contains(t, eval[string](t, page, `document.getElementById('mode').textContent`), "stream sequence "+strconv.FormatUint(past, 10))
	page.screenshot(t, "as-of")
	eval[bool](t, page, setInput("asof-time", "2001-01-01T00:00:00"))
	page.do(t, chromedp.Click(chromedp.CSS(`#asof-form button[type=submit]`)))
	page.waitFor(t, "as of 2001: nothing yet", jsHostIDs+`.length === 0 && document.getElementById('mode').textContent.includes('Showing')`, 10*time.Second)

	page.do(t, chromedp.Click(chromedp.ID("live")))
	page.waitFor(t, "live again", jsConn+` === 'connected' && `+jsHostIDs+`.length === 3 && !`+jsCard(delta.id), 10*time.Second)
	page.screenshot(t, "live-again")

	page.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	page.waitFor(t, "phone layout", `document.documentElement.scrollWidth <= 390`, 5*time.Second)
	page.screenshot(t, "phone")
	t.Logf("screenshots in %s", page.shots)
	p.stop(t)
}

// mustMaxSeq is the highest seq of the hosts the projector serves.
func mustMaxSeq(tb testing.TB, p *projectorProc) uint64 {
	tb.Helper()
	code, body, err := p.get("/api/v1/lattices/default/hosts")
	require.NoError(tb, err)
	require.Equal(tb, 200, code)
	var hosts []struct {
		Seq uint64 `json:"seq"`
	}
	require.NoError(tb, json.Unmarshal(body, &hosts))
	var seq uint64
	for _, h := range hosts {
		seq = max(seq, h.Seq)
	}
	require.NotZero(tb, seq)
	return seq
}

// dashboardStats are the dashboard's own measurements.
type dashboardStats struct {
	FirstPaintMs *float64 `json:"firstPaintMs"`
	Events       int      `json:"events"`
	Summaries    int      `json:"summaries"`
	Watches      int      `json:"watches"`
	Pages        []struct {
		Ms    float64 `json:"ms"`
		Hosts int     `json:"hosts"`
	} `json:"pages"`
}

func largeHeartbeat(i int, uptime string) []byte {
	return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%05d", i), Version: "0.56.0", UptimeSeconds: 60, UptimeHuman: uptime,
			Labels: map[string]string{"zone": fmt.Sprintf("zone-%d", i%5), "hostcore.os": "linux", "hostcore.arch": "x86_64"}},
		Shape:  eventtest.ActorList,
		Actors: map[string]uint64{"MAECHO": 2, "MAKVCOUNTER": 1, fmt.Sprintf("MAOWN%05d", i): 1},
		Providers: []eventtest.Provider{
			{ID: "VHTTPSERVER", LinkName: "default", ContractID: "wasmcloud:httpserver"},
			{ID: "VKEYVALUE", LinkName: "default", ContractID: "wasmcloud:keyvalue"},
		},
	}, now())
}

// jsLongTasks records, from the first document on, the duration of every
// main-thread task over 50 ms.
const jsLongTasks = `window.__longTasks = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); })
	.observe({type: 'longtask', buffered: true});`

// addScriptOnNewDocument runs source in every document the page opens.
func addScriptOnNewDocument(source string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
		return chromedp.Void{}, err
	}
}

// jsFilterMs sets a filter control as a user would and resolves with the
// milliseconds until the page of the filtered hosts is on screen (the
// hosts list says which query it shows), or -1 after 5 s.
func jsFilterMs(id, value, query string) string {
	return fmt.Sprintf(`(async () => {
		const list = document.getElementById('hosts');
		const e = document.getElementById(%q);
		const t0 = performance.now();
		e.value = %s;
		e.dispatchEvent(new Event('input', {bubbles: true}));
		e.dispatchEvent(new Event('change', {bubbles: true}));
		while (list.dataset.query !== %s) {
			if (performance.now() - t0 > 5000) return -1;
			await new Promise((r) => requestAnimationFrame(r));
		}
		await new Promise((r) => requestAnimationFrame(r));
		return performance.now() - t0;
	})()`, id, strconv.Quote(value), strconv.Quote(query))
}

// startHeartbeats publishes lines, round robin, at rate events per second
// until the returned function is called (or the test ends), which returns
// how many it sent.
// Every line applies again (its seq changes), so each is a change of a
// host document.
func startHeartbeats(tb testing.TB, nc *nats.Conn, lines [][]byte, rate int) (stop func() int) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sent := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		const every = 30 * time.Millisecond
		tick := time.NewTicker(every)
		defer tick.Stop()
		start := time.Now()
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int(time.Since(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				if err := nc.Publish(streams.HostEventSubject("default"), lines[i]); err != nil {
					tb.Errorf("publish: %v", err)
					return
				}
				i = (i + 1) % len(lines)
			}
		}
	})
	stop = func() int {
		cancel()
		wg.Wait()
		return sent
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// TestDashboard_TenThousandHosts measures the dashboard with a lattice of
// 10,000 hosts while 3,333 heartbeats a second arrive, against its
// targets: the totals and the first screen of hosts on screen within 1 s
// of navigation, a filter change shown within 200 ms, at most 3 MB of HTML
// at any time, and no main-thread task over 100 ms while live updates flow
// (5 s here, 30 s with LATTICESTATE_SOAK=1).
//
// The machine's other work only ever adds to a page's timings, so the
// first screen is the best of three loads and the filter target applies
// to the median of six changes. The timing targets hold as they are with
// LATTICESTATE_SOAK=1, the run that measures them (on a machine that is
// otherwise idle); the default run, on a machine shared with other jobs,
// allows three times as long. The DOM bound holds in both.
func TestDashboard_TenThousandHosts(t *testing.T) {
	const n, rate, maxDOM = 10_000, 3333, 3 << 20
	live, slack := 5*time.Second, 3.0
	if viewSoak() {
		live, slack = 30*time.Second, 1
	}
	br := mustBrowser(t, 1280, 900)
	// serve with its embedded NATS server, as by default: the server in
	// this test process runs with the race detector, several times slower,
	// and at this rate on a busy machine it fell seconds behind (the
	// projector with it), which measured the detector, not the dashboard.
	natsPort := freePort(t)
	p := mustStartProjector(t, "", "--nats-listen", "127.0.0.1:"+natsPort, "--data-dir", t.TempDir())
	nc, _ := natstest.MustConnectURL(t, "nats://127.0.0.1:"+natsPort)
	lines := make([][]byte, 0, n)
	for i := range n {
		lines = append(lines, largeHeartbeat(i, "1 minute"))
	}
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	waitCaughtUp(t, p, 2*time.Minute)
	stop := startHeartbeats(t, nc, lines, rate)

	br.do(t, addScriptOnNewDocument(jsLongTasks))
	var firstPaints []float64
	for range 3 {
		br.do(t, chromedp.Navigate(p.addr+"/"))
		br.waitFor(t, "totals and the first page", `window.latticestateDashboard.stats.firstPaintMs !== null &&
			document.getElementById('total-hosts').textContent === '10,000' && document.querySelectorAll('#hosts > li').length >= 12`, 30*time.Second)
		firstPaints = append(firstPaints, *eval[dashboardStats](t, br, `window.latticestateDashboard.stats`).FirstPaintMs)
	}
	br.waitFor(t, "a full page", `document.querySelectorAll('#hosts > li').length === 50`, 5*time.Second)
	br.screenshot(t, "ten-thousand-hosts")

	// Filter changes, each measured from input to the page shown.
	var filterMs []float64
	for _, f := range []struct{ id, value, query string }{
		{"filter-label", "zone=zone-3", "label=zone%3Dzone-3&limit=50"},
		{"filter-status", "stale", "label=zone%3Dzone-3&status=stale&limit=50"},
		{"filter-status", "", "label=zone%3Dzone-3&limit=50"},
		{"filter-text", "host-0004", "label=zone%3Dzone-3&q=host-0004&limit=50"},
		{"filter-label", "", "q=host-0004&limit=50"},
		{"filter-text", "", "limit=50"},
	} {
		ms := eval[float64](t, br, jsFilterMs(f.id, f.value, f.query), chromedp.EvalAwaitPromise)
		require.GreaterOrEqual(t, ms, 0.0, "%s=%q: page of %s not shown within 5 s", f.id, f.value, f.query)
		filterMs = append(filterMs, ms)
	}
	br.waitFor(t, "a full page again", `document.querySelectorAll('#hosts > li').length === 50`, 5*time.Second)

	// Live updates for a while: the DOM stays bounded, no long task.
	eval[int](t, br, `window.__longTasks.length = 0`)
	before := eval[dashboardStats](t, br, `window.latticestateDashboard.stats`)
	maxHTML := 0
	for end := time.Now().Add(live); time.Now().Before(end); {
		maxHTML = max(maxHTML, eval[int](t, br, `document.documentElement.outerHTML.length`))
		time.Sleep(500 * time.Millisecond)
	}
	after := eval[dashboardStats](t, br, `window.latticestateDashboard.stats`)
	long := eval[[]float64](t, br, `window.__longTasks`)
	sent := stop()
	br.screenshot(t, "ten-thousand-hosts-live")

	sortedFilters := slices.Sorted(slices.Values(filterMs))
	t.Logf("10,000 hosts, %d events/s (%d sent): totals and first page on screen %.0f ms after navigation (loads: %.0f); "+
		"filter changes shown in %.0f ms (median %.0f); live %v: %d host events and %d summaries applied, %d page reads, largest DOM %d KB, long tasks %v",
		rate, sent, slices.Min(firstPaints), firstPaints, filterMs, sortedFilters[len(sortedFilters)/2], live,
		after.Events-before.Events, after.Summaries-before.Summaries, len(after.Pages)-len(before.Pages), maxHTML>>10, long)
	require.LessOrEqual(t, maxHTML, maxDOM, "DOM bounded")
	require.Greater(t, after.Events, before.Events, "live updates reached the page")
	require.Less(t, slices.Min(firstPaints), 1000*slack, "totals and first screen within 1 s (×%v)", slack)
	require.Less(t, sortedFilters[len(sortedFilters)/2], 200*slack, "filter change shown within 200 ms (×%v)", slack)
	for _, d := range long {
		require.LessOrEqual(t, d, 100*slack, "main-thread tasks while live within 100 ms (×%v): %v", slack, long)
	}
	p.stop(t)
}
