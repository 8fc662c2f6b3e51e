package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

// foldPrefix runs `projector fold` on the first n lines and returns the
// hosts of the lattice document, sorted by id, as JSON values.
func foldPrefix(tb testing.TB, lines [][]byte, n int) []json.RawMessage {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "prefix.jsonl")
	require.NoError(tb, writeLines(name, lines[:n]))
	out, err := exec.Command(projectorBin, "fold", name).Output()
	require.NoError(tb, err)
	var doc struct {
		Hosts map[string]json.RawMessage `json:"hosts"`
	}
	require.NoError(tb, json.Unmarshal(out, &doc))
	var hosts []json.RawMessage
	for _, id := range sortedKeys(doc.Hosts) {
		hosts = append(hosts, doc.Hosts[id])
	}
	return hosts
}

// TestServe_AsOfEqualsFoldOfPrefix: ?as_of= at three stream sequences, and
// at the capture time of one of them, answers what fold gives for the
// matching prefix of the file.
func TestServe_AsOfEqualsFoldOfPrefix(t *testing.T) {
	s := natstest.MustRunServer(t)
	nc, js := natstest.MustConnect(t, s)
	p := mustStartProjector(t, s.ClientURL())
	lines := mustReadLines(t, "testdata/otp_sequence.jsonl")
	mustPublish(t, nc, streams.HostEventSubject("default"), lines)
	waitCaughtUp(t, p, 10*time.Second)

	stream, err := js.Stream(context.Background(), streams.EventsStream)
	require.NoError(t, err)
	for _, n := range []int{1, 4, 9} {
		want := foldPrefix(t, lines, n)
		code, body, err := p.get("/api/v1/lattices/default/hosts?as_of=" + strconv.Itoa(n))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "%s", body)
		var got []json.RawMessage
		require.NoError(t, json.Unmarshal(body, &got))
		require.Len(t, got, len(want), "as_of=%d", n)
		for i := range want {
			require.JSONEq(t, string(want[i]), string(got[i]), "as_of=%d", n)
		}

		m, err := stream.GetMsg(context.Background(), uint64(n))
		require.NoError(t, err)
		at := m.Time.UTC().Format(time.RFC3339Nano)
		code, body, err = p.get("/api/v1/lattices/default/hosts/NCSWT2MNKTGQC7FZE3NEW5LN44PIRUJUK7ZIN2LNNN4DIUJVTFGLOI7I?as_of=" + url.QueryEscape(at))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "%s", body)
		require.JSONEq(t, string(want[0]), string(body), "as_of=%s", at)
	}
	code, body, err := p.get("/api/v1/lattices/default/hosts?as_of=yesterday")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "RFC 3339")
	p.stop(t)
}

func writeLines(name string, lines [][]byte) error {
	return writeFile(name, append(bytes.Join(lines, []byte("\n")), '\n'))
}
