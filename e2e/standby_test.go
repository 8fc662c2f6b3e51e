package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
	"latticestate/streams"
)

var appliedMetric = regexp.MustCompile(`(?m)^latticestate_events_applied_total (\S+)$`)

// applied reads how many events the projector has applied.
func (p *projectorProc) applied() (float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil {
		return 0, err
	}
	m := appliedMetric.FindSubmatch(body)
	if code != 200 || m == nil {
		return 0, fmt.Errorf("metrics %d without latticestate_events_applied_total", code)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// TestServe_HotStandby runs two projectors against one server: the consumer
// delivers to one while the other waits. Killed mid-stream, the active one
// is replaced by the standby within seconds, and the bucket ends equal to
// the fold of everything published (5k events, 20k under soak).
func TestServe_HotStandby(t *testing.T) {
	t.Parallel() // waits on leases and elections more than it computes
	events := soakSize(5_000, 20_000)
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	lines := workload(23, 200, events, 0)

	active := mustStartProjector(t, s.ClientURL())
	standby := mustStartProjector(t, s.ClientURL())
	wait := publisher(t, s.ClientURL(), streams.HostEventSubject("default"), lines, events/6)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		a, err := active.applied()
		if err == nil && a < 1 {
			err = errNotYet
		}
		return err
	})
	time.Sleep(1500 * time.Millisecond)
	n, err := standby.applied()
	require.NoError(t, err)
	require.Zero(t, n, "the standby applies nothing while the active projector runs")

	active.kill(t)
	killed := time.Now()
	natstest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		n, err := standby.applied()
		if err == nil && n == 0 {
			err = errNotYet
		}
		return err
	})
	takeover := time.Since(killed)
	t.Logf("standby applied its first events %v after the active projector was killed (lease TTL %v)", takeover.Round(time.Millisecond), streams.LeaseTTL)
	require.Less(t, takeover, 3*streams.LeaseTTL, "takeover within a few seconds")

	require.Equal(t, len(lines), wait())
	requireStreamHas(t, js, uint64(len(lines)))
	waitCaughtUp(t, standby, 60*time.Second)
	f := requireKVEqualsFold(t, js, "default")
	require.NotEmpty(t, f.Lattice.Hosts)
	require.Contains(t, standby.logs(), "taking over from another projector")
	standby.stop(t)
}
