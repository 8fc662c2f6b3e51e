package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/internal/projectortest"
	"latticestate/internal/view"
	"latticestate/projections"
	"latticestate/streams"
)

type hostsPage struct {
	Hosts []*projections.Host `json:"hosts"`
	Total int                 `json:"total"`
	Next  *string             `json:"next"`
}

func mustHosts(t *testing.T, base, query string) []*projections.Host {
	t.Helper()
	code, body := mustGet(t, base+"/api/v1/lattices/default/hosts?"+query)
	require.Equal(t, 200, code, "%s", body)
	var hosts []*projections.Host
	require.NoError(t, json.Unmarshal(body, &hosts), "%s", body)
	return hosts
}

// mustAllPages follows the next cursors from the first page of query.
func mustAllPages(t *testing.T, base, query string, limit int) (hosts []*projections.Host, totals []int) {
	t.Helper()
	return mustPagesAfter(t, base, query, limit, "")
}

// mustPagesAfter follows the next cursors from after.
func mustPagesAfter(t *testing.T, base, query string, limit int, after string) (hosts []*projections.Host, totals []int) {
	t.Helper()
	for range 1000 {
		q := query + "&limit=" + strconv.Itoa(limit)
		if after != "" {
			q += "&after=" + after
		}
		code, body := mustGet(t, base+"/api/v1/lattices/default/hosts?"+q)
		require.Equal(t, 200, code, "%s", body)
		var p hostsPage
		require.NoError(t, json.Unmarshal(body, &p), "%s", body)
		require.LessOrEqual(t, len(p.Hosts), limit)
		hosts = append(hosts, p.Hosts...)
		totals = append(totals, p.Total)
		if p.Next == nil {
			return hosts, totals
		}
		require.Equal(t, p.Hosts[len(p.Hosts)-1].HostID, *p.Next, "the cursor is the last host of the page")
		after = *p.Next
	}
	t.Fatal("more than 1000 pages")
	return nil, nil
}

func hostIDs(hosts []*projections.Host) []string {
	out := []string{}
	for _, h := range hosts {
		out = append(out, h.HostID)
	}
	return out
}

// countOf is the summary a client would compute from the full host list.
func countOf(hosts []*projections.Host) map[string]any {
	byStatus, instances, providers, versions, contracts := map[string]int{}, map[string]uint64{}, map[string]int{}, map[string]int{}, map[string]int{}
	labels := map[string]map[string]int{}
	var total uint64
	nproviders := 0
	for _, h := range hosts {
		byStatus[h.Status]++
		versions[h.Version]++
		for k, v := range h.Labels {
			if labels[k] == nil {
				labels[k] = map[string]int{}
			}
			labels[k][v]++
		}
		for _, a := range h.Actors {
			instances[a.Status] += a.Count
			total += a.Count
		}
		for _, p := range h.Providers {
			providers[p.Status]++
			contracts[p.ContractID]++
			nproviders++
		}
	}
	return map[string]any{"hosts": len(hosts), "by_status": byStatus, "instances": total, "instances_by_status": instances,
		"providers": nproviders, "providers_by_status": providers, "versions": versions, "contracts": contracts, "labels": labels}
}

func countOfSummary(s view.Summary) map[string]any {
	labels := map[string]map[string]int{}
	for k, l := range s.Labels.Top {
		labels[k] = l.Top.Top
	}
	return map[string]any{"hosts": s.Hosts.Total, "by_status": s.Hosts.ByStatus, "instances": s.Actors.Instances,
		"instances_by_status": s.Actors.ByStatus, "providers": s.Providers.Total, "providers_by_status": s.Providers.ByStatus,
		"versions": s.Versions.Top, "contracts": s.Contracts.Top, "labels": labels}
}

func mustSummary(t *testing.T, base, query string) view.Summary {
	t.Helper()
	code, body := mustGet(t, base+"/api/v1/lattices/default/summary?"+query)
	require.Equal(t, 200, code, "%s", body)
	var s view.Summary
	require.NoError(t, json.Unmarshal(body, &s), "%s", body)
	return s
}

func heartbeat(i int) []byte {
	return eventtest.HostHeartbeat(eventtest.HostID(i), eventtest.Heartbeat{
		HostInfo: eventtest.HostInfo{FriendlyName: fmt.Sprintf("host-%02d", i), Version: fmt.Sprintf("1.%d.0", i%2),
			Labels: map[string]string{"zone": fmt.Sprintf("z%d", i%3)}},
		Actors:    map[string]uint64{"MECHO": uint64(1 + i%2), fmt.Sprintf("MOWN%02d", i): 1},
		Providers: []eventtest.Provider{{ID: "VHTTP", LinkName: "default", ContractID: "wasmcloud:httpserver"}},
	})
}

// Pages of every filter, live and as of a stream sequence, hold exactly
// the hosts of the unpaged list, each once; the summary counts what the
// list holds; paging while hosts come and go neither repeats a host nor
// loses one that stayed.
func TestServer_HostsPagesAndSummary(t *testing.T) {
	f := mustFixture(t, 0)
	// Published through JetStream: once the PubAck is back the stream
	// holds the event, and a projector that has caught up has it.
	publish := func(subject string, lines ...[]byte) {
		t.Helper()
		for _, l := range lines {
			_, err := f.js.Publish(context.Background(), subject, l)
			require.NoError(t, err)
		}
	}
	for i := range 30 {
		publish(streams.HostEventSubject("default"), heartbeat(i))
	}
	for i := 0; i < 30; i += 4 {
		publish(streams.RecordedEventSubject("default", "host_stale"), eventtest.HostStale(eventtest.HostID(i)))
	}
	publish(streams.HostEventSubject("default"), eventtest.HealthCheck(eventtest.HostID(1), false,
		eventtest.Provider{ID: "VHTTP", LinkName: "default", ContractID: "wasmcloud:httpserver"}))
	projectortest.Run(t, f.js, f.res)
	info, err := f.res.Events.Info(context.Background())
	require.NoError(t, err)
	seq1 := strconv.FormatUint(info.State.LastSeq, 10)

	base := f.srv.URL
	all := mustHosts(t, base, "")
	require.Len(t, all, 30)
	for _, q := range []string{"", "label=zone%3Dz1", "status=stale", "status=up&label=zone", "q=HOST-1", "q=vhttp&label=zone%3Dz2"} {
		t.Run("filter "+q, func(t *testing.T) {
			want := mustHosts(t, base, q)
			for _, limit := range []int{1, 7, 30, 1000} {
				got, totals := mustAllPages(t, base, q, limit)
				require.Equal(t, hostIDs(want), hostIDs(got), "limit %d", limit)
				require.Equal(t, want, got)
				for _, n := range totals {
					require.Equal(t, len(want), n)
				}
			}
			// The same filters as of the end of the first phase.
			wantPast := mustHosts(t, base, q+"&as_of="+seq1)
			gotPast, _ := mustAllPages(t, base, q+"&as_of="+seq1, 4)
			require.Equal(t, wantPast, gotPast)
		})
	}
	vals, _ := url.ParseQuery("label=zone=z1")
	filter, err := view.ParseFilter(vals)
	require.NoError(t, err)
	for _, h := range mustHosts(t, base, "label=zone%3Dz1") {
		require.True(t, filter.MatchHost(h))
	}
	require.Equal(t, countOf(all), countOfSummary(mustSummary(t, base, "")))
	require.EqualValues(t, 75, mustSummary(t, base, "").Actors.Instances, "30 hosts run 1 or 2 MECHO and 1 of their own")

	// Paging while hosts stop and start: the first page is read, then a
	// host of a later page stops and new hosts start.
	first, _ := mustPagesUntil(t, base, 10)
	ids := hostIDs(all)
	stopped := ids[20]
	publish(streams.HostEventSubject("default"), eventtest.HostStopped(stopped, nil))
	for i := 100; i < 105; i++ {
		publish(streams.HostEventSubject("default"), heartbeat(i))
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(mustHosts(t, base, "")); n != 34 {
			return fmt.Errorf("%d hosts", n)
		}
		return nil
	})
	rest, _ := mustPagesAfter(t, base, "", 10, first)
	seen := append(ids[:0:0], ids[:10]...)
	seen = append(seen, hostIDs(rest)...)
	require.True(t, slices.IsSorted(seen) && len(slices.Compact(slices.Clone(seen))) == len(seen), "no host twice")
	for _, id := range ids {
		if id != stopped {
			require.Contains(t, seen, id, "a host that stayed is on a page")
		}
	}
	require.NotContains(t, seen, stopped)

	// The summary follows, and as of the first phase it is what it was.
	live := mustHosts(t, base, "")
	require.Equal(t, countOf(live), countOfSummary(mustSummary(t, base, "")))
	past := mustHosts(t, base, "as_of="+seq1)
	require.Equal(t, hostIDs(all), hostIDs(past))
	require.Equal(t, countOf(past), countOfSummary(mustSummary(t, base, "as_of="+seq1)))
	require.EqualValues(t, info.State.LastSeq, mustSummary(t, base, "as_of="+seq1).Seq)
	require.Equal(t, slices.Sorted(maps.Keys(map[string]bool{"z0": true, "z1": true, "z2": true})),
		slices.Sorted(maps.Keys(mustSummary(t, base, "").Labels.Top["zone"].Top.Top)))
}

// mustPagesUntil reads the first page of limit hosts and returns the
// cursor after it.
func mustPagesUntil(t *testing.T, base string, limit int) (string, int) {
	t.Helper()
	code, body := mustGet(t, base+"/api/v1/lattices/default/hosts?limit="+strconv.Itoa(limit))
	require.Equal(t, 200, code)
	var p hostsPage
	require.NoError(t, json.Unmarshal(body, &p))
	require.NotNil(t, p.Next)
	require.True(t, strings.HasPrefix(*p.Next, "N"))
	return *p.Next, p.Total
}
