package projections_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// testLattice is the lattice every test folds into.
const testLattice = "default"

// Hosts, actors and providers the tests talk about.
var (
	hostA = eventtest.HostID(1)
	hostB = eventtest.HostID(2)
)

const (
	actorEcho  = "MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5"
	actorKV    = "MCUCZ7KMLELGLNKJGPAO7ZVPRHVHL3X3HJBNQ3NAWKMGVLMEVN7P4UCD"
	provHTTP   = "VAG3QITQQ2ODAOWB5TTQSDJ53XK3SHBEIFNK4AYJ5RKAX2UNSCAPHA5M"
	provKV     = "VAZVC4RX54J2NVCMCW7BPCAHGGG5XZXDBXFUMDUXGESTMQEJLC3YVZWB"
	contractHS = "wasmcloud:httpserver"
	contractKV = "wasmcloud:keyvalue"
)

// labelsOS is a typical label set of an OTP host.
var labelsOS = map[string]string{"hostcore.arch": "x86_64", "hostcore.os": "macos", "hostcore.osfamily": "unix"}

// mustDecode decodes line, failing the test when it is rejected.
func mustDecode(tb testing.TB, line []byte) projections.Event {
	tb.Helper()
	ev, err := projections.Decode(line)
	require.NoError(tb, err, "decode %s", line)
	return ev
}

// mustApplyHost decodes line as the event at position seq of testLattice
// and folds it into cur with ApplyHost.
func mustApplyHost(tb testing.TB, cur *projections.Host, seq uint64, line []byte) (*projections.Host, []projections.Intent) {
	tb.Helper()
	ev := mustDecode(tb, line)
	ev.Seq, ev.Lattice = seq, testLattice
	return projections.ApplyHost(cur, &ev)
}

// mustFold folds lines into a fresh Folder, the i-th line at position i+1,
// failing the test when any line is rejected.
func mustFold(tb testing.TB, lines ...[]byte) *projections.Folder {
	tb.Helper()
	f := projections.NewFolder(testLattice)
	for i, line := range lines {
		require.NoError(tb, f.Add(uint64(i+1), line), "line %d: %s", i+1, line)
	}
	return f
}

// mustHost returns the document of host id in f's lattice, failing the test
// when there is none.
func mustHost(tb testing.TB, f *projections.Folder, id string) *projections.Host {
	tb.Helper()
	h, ok := f.Lattice.Hosts[id]
	require.True(tb, ok, "host %s is not in the lattice", id)
	require.NotNil(tb, h)
	return h
}

// mustMarshal encodes v with projections.Marshal. It takes a rapid.TB, which
// *testing.T, *testing.B and *rapid.T all are.
func mustMarshal(tb rapid.TB, v any) []byte {
	tb.Helper()
	b, err := projections.Marshal(v)
	require.NoError(tb, err)
	return b
}

// requestLabels is the intent for host id in testLattice raised by the
// event at seq.
func requestLabels(id string, seq uint64) projections.Intent {
	return projections.Intent{Kind: projections.IntentRequestLabels, Lattice: testLattice, HostID: id, Seq: seq}
}

// awaiting, healthy and unhealthy are actor entries with count n.
func awaiting(n uint64) projections.Actor {
	return projections.Actor{Count: n, Status: projections.StatusAwaiting}
}

func healthy(n uint64) projections.Actor {
	return projections.Actor{Count: n, Status: projections.StatusHealthy}
}

// provider is the host document entry of a provider.
func provider(id, linkName, contract, status string) projections.Provider {
	return projections.Provider{PublicKey: id, LinkName: linkName, ContractID: contract, Status: status}
}

// fullHeartbeat is a heartbeat from hostA shaped like the fixture
// otp_heartbeat_full.json.
func fullHeartbeat() eventtest.Heartbeat {
	return eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{
			FriendlyName: "wandering-moon-6866", Version: "0.56.0",
			UptimeSeconds: 6063, UptimeHuman: "1 hour, 41 minutes, 3 seconds",
			Labels: labelsOS,
		},
		Actors: map[string]uint64{actorEcho: 2},
		Providers: []eventtest.Provider{
			{ID: provHTTP, LinkName: "default", ContractID: contractHS},
			{ID: provKV, LinkName: "default", ContractID: contractKV},
		},
	}
}
