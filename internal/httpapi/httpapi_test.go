package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/eventtest"
	"latticestate/internal/httpapi"
	"latticestate/internal/natstest"
	"latticestate/internal/projectortest"
	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

type lag uint64

func (l lag) Lag(context.Context) (uint64, error) { return uint64(l), nil }

// apiFixture is an API server over a real JetStream server.
type apiFixture struct {
	srv *httptest.Server
	v   *view.View
	nc  *nats.Conn
	js  jetstream.JetStream
	res *streams.Resources
}

func mustFixture(t *testing.T, pending uint64, opts ...view.Option) apiFixture {
	t.Helper()
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	// The view has a connection of its own, as serve gives it.
	_, vjs := natstest.MustConnect(t, s)
	v, err := view.New(vjs, opts...)
	require.NoError(t, err)
	v.Start(context.Background())
	t.Cleanup(v.Stop)
	api := &httpapi.Server{
		Read:     read.New(read.NewViewSource(v, read.NewBucket(js, streams.StateBucket)), pipeline.NewHistory(js)),
		View:     v,
		Healthy:  func() error { return nil },
		Progress: lag(pending),
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return apiFixture{srv: srv, v: v, nc: nc, js: js, res: res}
}

func mustServer(t *testing.T, pending uint64) *httptest.Server {
	t.Helper()
	return mustFixture(t, pending).srv
}

func mustGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func TestServer_Handler(t *testing.T) {
	srv := mustServer(t, 0)
	cases := []struct {
		name, path string
		code       int
		contains   string
	}{
		{"empty lattice lists no hosts", "/api/v1/lattices/default/hosts", 200, "[]"},
		{"invalid lattice", "/api/v1/lattices/bad.name/hosts", 400, `"error"`},
		{"unknown host", "/api/v1/lattices/default/hosts/NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I", 404, "no host"},
		{"not a host id", "/api/v1/lattices/default/hosts/N.*>", 400, `"N.*\u003e\" is not a host id`},
		{"host id with a bad checksum", "/api/v1/lattices/default/hosts/NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7A", 400, "is not a host id"},
		{"not a host id as of", "/api/v1/lattices/default/hosts/nope?as_of=1", 400, "is not a host id"},
		{"unknown status", "/api/v1/lattices/default/hosts?status=bogus", 400, `status \"bogus\": want one of up, stale`},
		{"status as of", "/api/v1/lattices/default/hosts?status=bogus&as_of=1", 400, "want one of up, stale"},
		{"label key with a space", "/api/v1/lattices/default/hosts?label=zone%20x%3Da", 400, "white space in the key"},
		{"label selected twice", "/api/v1/lattices/default/hosts?label=zone%3Da&label=zone%3Db", 400, "already selected"},
		{"bad as_of", "/api/v1/lattices/default/hosts?as_of=soon", 400, "RFC 3339"},
		{"bad label selector", "/api/v1/lattices/default/hosts?label==x", 400, "label selector"},
		{"limit 0", "/api/v1/lattices/default/hosts?limit=0", 400, "limit"},
		{"limit too large", "/api/v1/lattices/default/hosts?limit=1001", 400, "limit"},
		{"after without limit", "/api/v1/lattices/default/hosts?after=NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I", 400, "after needs limit"},
		{"after not a host id", "/api/v1/lattices/default/hosts?limit=5&after=x", 400, "not a host public key"},
		{"empty page", "/api/v1/lattices/default/hosts?limit=5", 200, `{"hosts":[],"total":0,"next":null}`},
		{"empty summary", "/api/v1/lattices/default/summary", 200, `"hosts":{"total":0,"by_status":{}}`},
		{"summary of an invalid lattice", "/api/v1/lattices/bad.name/summary", 400, `"error"`},
		{"watch with a bad mode", "/api/v1/lattices/default/watch?mode=all", 400, "want hosts, summary or both"},
		{"watch with a bad host", "/api/v1/lattices/default/watch?host=NOPE", 400, "not a host public key"},
		{"watch with a bad status", "/api/v1/lattices/default/watch?status=down", 400, "want one of up, stale"},
		{"as_of past the end of the stream", "/api/v1/lattices/default/hosts?as_of=5", 400, `"last_seq":0`},
		{"summary as_of past the end of the stream", "/api/v1/lattices/default/summary?as_of=5", 400, `"last_seq":0`},
		{"history of an empty stream", "/api/v1/lattices/default/history", 200, `"last_seq":0`},
		{"healthz", "/healthz", 200, "ok"},
		{"readyz when current", "/readyz", 200, "ready"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := mustGet(t, srv.URL+c.path)
			require.Equal(t, c.code, code, "%s", body)
			require.Contains(t, string(body), c.contains)
		})
	}
}

// draining is a projector whose lag is 0 from its calls-th call to Lag on.
type draining struct {
	calls atomic.Int32
	after int32
	lag   uint64
}

func (d *draining) Lag(context.Context) (uint64, error) {
	if d.calls.Add(1) >= d.after {
		return 0, nil
	}
	return d.lag, nil
}

func TestServer_Readyz(t *testing.T) {
	t.Run("behind for longer than a second", func(t *testing.T) {
		srv := mustServer(t, 7)
		start := time.Now()
		code, body := mustGet(t, srv.URL+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.JSONEq(t, `{"status":"catching up","lag":7}`, string(body))
		require.GreaterOrEqual(t, time.Since(start), time.Second, "judged over a second")
	})
	// A projector under steady load has a batch in flight at most instants
	// and applies all that was captured now and then: it is ready.
	t.Run("catches up within the second", func(t *testing.T) {
		api := &httpapi.Server{Healthy: func() error { return nil }, Progress: &draining{after: 5, lag: 40}}
		srv := httptest.NewServer(api.Handler())
		t.Cleanup(srv.Close)
		code, body := mustGet(t, srv.URL+"/readyz")
		require.Equal(t, http.StatusOK, code, "%s", body)
		require.JSONEq(t, `{"status":"ready","lag":0}`, string(body))
	})
}

// The OpenAPI description is valid JSON and describes every API route.
func TestServer_OpenAPI(t *testing.T) {
	srv := mustServer(t, 0)
	code, body := mustGet(t, srv.URL+"/api/v1/openapi.json")
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	for _, p := range []string{
		"/api/v1/lattices/{lattice}/hosts", "/api/v1/lattices/{lattice}/hosts/{id}",
		"/api/v1/lattices/{lattice}/watch", "/api/v1/lattices", "/api/v1/lattices/{lattice}/links",
		"/api/v1/lattices/{lattice}/refmaps", "/api/v1/lattices/{lattice}/summary", "/api/v1/settings", "/healthz", "/readyz", "/metrics",
	} {
		require.Contains(t, doc.Paths, p)
	}
}

// The settings tell the dashboard the host expiry, for how long a stale
// host has left.
func TestServer_Settings(t *testing.T) {
	for _, tt := range []struct {
		expiry time.Duration
		want   string
	}{
		{15 * time.Minute, `{"host_expiry_seconds": 900}`},
		{1500 * time.Millisecond, `{"host_expiry_seconds": 1.5}`},
		{0, `{"host_expiry_seconds": 0}`},
	} {
		srv := httptest.NewServer((&httpapi.Server{HostExpiry: tt.expiry}).Handler())
		code, body := mustGet(t, srv.URL+"/api/v1/settings")
		srv.Close()
		require.Equal(t, http.StatusOK, code)
		require.JSONEq(t, tt.want, string(body))
	}
}

// A server made without a history answers the live state, and says that
// it cannot travel in time.
func TestServer_NoHistory(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	_, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	api := &httpapi.Server{Read: read.New(read.NewBucket(js, streams.StateBucket), nil), Healthy: func() error { return nil }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	for _, c := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/api/v1/lattices/default/hosts", 200, "[]"},
		{"/api/v1/lattices/default/history", 404, "not available"},
		{"/api/v1/lattices/default/hosts?as_of=1", 503, "as_of is not available"},
	} {
		code, body := mustGet(t, srv.URL+c.path)
		require.Equal(t, c.code, code, "%s: %s", c.path, body)
		require.Contains(t, string(body), c.contains, c.path)
	}
}

func TestServer_Unhealthy(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	api := &httpapi.Server{Read: read.New(read.NewBucket(js, streams.StateBucket), nil), Healthy: func() error { return errors.New("not connected to NATS") }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := mustGet(t, srv.URL+path)
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, string(body), "not connected")
	}
}

// Links and ref maps are answered sorted by key, live from the bucket and
// as of a stream sequence from the stream; the lattices are those with
// documents in the bucket.
func TestServer_LinksRefmapsLattices(t *testing.T) {
	f := mustFixture(t, 0)
	host := eventtest.HostID(1)
	otpLink := eventtest.Link{ActorID: "MB2", ProviderID: "VP1", ContractID: "wasmcloud:httpserver", LinkName: "default", Values: map[string]string{"PORT": "8080"}}
	v1Link := eventtest.Link{SourceID: "echo", Target: "http", Name: "default", WitNamespace: "wasi", WitPackage: "http", Interfaces: []string{"incoming-handler"}}
	goneLink := eventtest.Link{ActorID: "MB1", ProviderID: "VP9", ContractID: "wasmcloud:keyvalue", LinkName: "cache"}
	events := [][]byte{
		eventtest.HostHeartbeat(host, eventtest.Heartbeat{HostInfo: eventtest.HostInfo{FriendlyName: "a", Labels: map[string]string{}}}),
		eventtest.LinkdefSet(host, otpLink),
		eventtest.LinkdefSet(host, goneLink),
		eventtest.RefmapSet(host, "ghcr.io/b/echo:0.2", "MB2"),
		eventtest.LinkdefSet(host, v1Link),
		eventtest.LinkdefDeleted(host, goneLink), // seq 6
		eventtest.RefmapSet(host, "ghcr.io/a/kv:0.1", "VP9"),
	}
	// Published through JetStream: once the PubAck is back the stream
	// holds the event, and a projector that has caught up has it (a plain
	// publish is stored a moment after the server has it).
	ctx := context.Background()
	for _, e := range events {
		_, err := f.js.Publish(ctx, streams.HostEventSubject("default"), e)
		require.NoError(t, err)
	}
	_, err := f.js.Publish(ctx, streams.HostEventSubject("other"), eventtest.HostHeartbeat(eventtest.HostID(2), eventtest.Heartbeat{HostInfo: eventtest.HostInfo{Labels: map[string]string{}}}))
	require.NoError(t, err)
	projectortest.Run(t, f.js, f.res)

	getList := func(path string) []map[string]any {
		t.Helper()
		code, body := mustGet(t, f.srv.URL+path)
		require.Equal(t, http.StatusOK, code, "%s", body)
		var out []map[string]any
		require.NoError(t, json.Unmarshal(body, &out), "%s", body)
		return out
	}
	keys := func(docs []map[string]any, member string) []string {
		out := []string{}
		for _, d := range docs {
			out = append(out, d[member].(string))
		}
		return out
	}

	links := getList("/api/v1/lattices/default/links")
	require.Equal(t, []string{"MB2/wasmcloud:httpserver/default", "echo/wasi:http/default"}, keys(links, "key"))
	require.Equal(t, map[string]any{"actor_id": "MB2", "provider_id": "VP1", "contract_id": "wasmcloud:httpserver",
		"link_name": "default", "values": map[string]any{"PORT": "8080"}}, links[0]["link"])
	require.EqualValues(t, 2, links[0]["seq"])
	require.EqualValues(t, 5, links[1]["seq"])

	refmaps := getList("/api/v1/lattices/default/refmaps")
	require.Equal(t, []string{"ghcr.io/a/kv:0.1", "ghcr.io/b/echo:0.2"}, keys(refmaps, "oci_url"))
	require.Equal(t, "VP9", refmaps[0]["public_key"])
	require.EqualValues(t, 7, refmaps[0]["seq"])

	// Before the delete and the second ref map.
	past := getList("/api/v1/lattices/default/links?as_of=5")
	require.Equal(t, []string{"MB1/wasmcloud:keyvalue/cache", "MB2/wasmcloud:httpserver/default", "echo/wasi:http/default"}, keys(past, "key"))
	require.NotContains(t, past[0], "seq", "a fold keeps no seq for links")
	require.Equal(t, []string{"ghcr.io/b/echo:0.2"}, keys(getList("/api/v1/lattices/default/refmaps?as_of="+strconv.Itoa(6)), "oci_url"))
	require.Empty(t, getList("/api/v1/lattices/default/links?as_of=1"))
	require.Empty(t, getList("/api/v1/lattices/other/links"))
	require.Empty(t, getList("/api/v1/lattices/other/refmaps"))

	code, body := mustGet(t, f.srv.URL+"/api/v1/lattices")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `["default","other"]`, string(body))

	for _, path := range []string{"/api/v1/lattices/bad.name/links", "/api/v1/lattices/default/refmaps?as_of=soon"} {
		code, body := mustGet(t, f.srv.URL+path)
		require.Equal(t, http.StatusBadRequest, code, path)
		require.Contains(t, string(body), `"error"`)
	}
}

// An empty bucket has no lattices: the answer is an empty list, not null.
func TestServer_NoLattices(t *testing.T) {
	srv := mustServer(t, 0)
	code, body := mustGet(t, srv.URL+"/api/v1/lattices")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `[]`, string(body))
}

// The dashboard is served at / with its files under /ui/, under a content
// security policy that allows no script but its own.
func TestServer_Dashboard(t *testing.T) {
	srv := mustServer(t, 0)
	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, string(body), `<script src="/ui/dashboard.js" defer></script>`)
	require.NotContains(t, string(body), "http://", "no external resources")
	require.NotContains(t, string(body), "https://", "no external resources")

	for path, ctype := range map[string]string{"/ui/dashboard.js": "javascript", "/ui/dashboard.css": "text/css"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), ctype, path)
		require.NotEmpty(t, b)
		require.NotContains(t, string(b), "innerHTML", "%s renders data as text only", path)
	}
	for _, path := range []string{"/ui/missing.js", "/nope"} {
		code, _ := mustGet(t, srv.URL+path)
		require.Equal(t, http.StatusNotFound, code, path)
	}
}
