package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/httpapi"
	"latticestate/internal/natstest"
	"latticestate/pipeline"
	"latticestate/projections"
	"latticestate/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type lag uint64

func (l lag) Lag(context.Context) (uint64, error) { return uint64(l), nil }

func mustServer(t *testing.T, pending uint64) *httptest.Server {
	t.Helper()
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
	require.NoError(t, err)
	api := &httpapi.Server{
		State:    pipeline.NewStateReader(js, res.Meta),
		Healthy:  func() error { return nil },
		Progress: lag(pending),
		AsOf: func(ctx context.Context, lattice string, asOf pipeline.AsOf) (*projections.Lattice, error) {
			return pipeline.FoldStream(ctx, js, lattice, asOf)
		},
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv
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
		{"not a host id", "/api/v1/lattices/default/hosts/N.*>", 404, "not a host public key"},
		{"bad as_of", "/api/v1/lattices/default/hosts?as_of=soon", 400, "RFC 3339"},
		{"bad label selector", "/api/v1/lattices/default/hosts?label==x", 400, "label selector"},
		{"as_of on an empty stream", "/api/v1/lattices/default/hosts?as_of=5", 200, "[]"},
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

func TestServer_Readyz(t *testing.T) {
	srv := mustServer(t, 7)
	code, body := mustGet(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"catching up","lag":7}`, string(body))
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
		"/api/v1/lattices/{lattice}/watch", "/healthz", "/readyz", "/metrics",
	} {
		require.Contains(t, doc.Paths, p)
	}
}

func TestServer_Unhealthy(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	api := &httpapi.Server{State: pipeline.NewStateReader(js, nil), Healthy: func() error { return errors.New("not connected to NATS") }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := mustGet(t, srv.URL+path)
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, string(body), "not connected")
	}
}
