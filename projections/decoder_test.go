package projections_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/projections"
)

// One Decoder used by several goroutines at once, while its caches fill
// and grow, decodes every event as Decode does.
func TestDecoder_Concurrent(t *testing.T) {
	const hosts, workers = 1500, 2
	lines := make([][]byte, hosts)
	want := make([]projections.Event, hosts)
	for i := range lines {
		hb := fullHeartbeat()
		hb.FriendlyName = eventtest.HostID(i)[:12]
		lines[i] = eventtest.HostHeartbeat(eventtest.HostID(i), hb)
		want[i] = mustDecode(t, lines[i])
	}
	d := projections.NewDecoder()
	got := make([][]projections.Event, workers)
	var wg sync.WaitGroup
	for w := range workers {
		got[w] = make([]projections.Event, 2*hosts)
		wg.Go(func() {
			for i := range 2 * hosts {
				// Each worker goes through the hosts in its own order.
				j := (i*(w+1) + w) % hosts
				ev, err := d.Decode(lines[j])
				if err != nil {
					t.Errorf("line %d: %v", j, err)
					return
				}
				got[w][i] = ev
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i, ev := range got[w] {
			j := (i*(w+1) + w) % hosts
			require.Equal(t, want[j], ev, "worker %d, line %d", w, j)
		}
	}
}
