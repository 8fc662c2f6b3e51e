package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/internal/httpapi"
	"latticestate/internal/read"
	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/streams"
)

// TargetAsOfOverLive: ?as_of= at any point of the history takes at most
// this many times the live host list.
const TargetAsOfOverLive = 3.0

// AsOf is what the as-of stage measures: the HTTP host list of a lattice,
// live and as of points near the start, in the middle and near the end of
// the history, each the median of several requests.
type AsOf struct {
	Lattice    string        `json:"lattice"`
	Hosts      int           `json:"hosts"`
	LiveListMs float64       `json:"live_list_ms"`
	Points     []AsOfPoint   `json:"points"`
	WorstRatio float64       `json:"worst_ratio"`
	Snapshots  SnapshotsCost `json:"snapshots"`
}

// AsOfPoint is one timed point: Ms is the median of requests for Seq and
// the sequences just after it, asked from the last down to Seq so that each
// is folded from the snapshot; AgainMs the median of asking for Seq again,
// answered with the lattice folded for it; ForwardMs the median of asking
// for the sequences after those, one after the other, each folded from the
// lattice kept for the one before (a reader stepping forward).
type AsOfPoint struct {
	Seq       uint64  `json:"seq"`
	Ms        float64 `json:"ms"`
	Ratio     float64 `json:"ratio_to_live"`
	AgainMs   float64 `json:"again_ms"`
	ForwardMs float64 `json:"forward_ms"`
}

// SnapshotsCost is what the snapshots cost next to the stream.
type SnapshotsCost struct {
	Every       uint64  `json:"every"`
	Bytes       uint64  `json:"bytes"`
	StreamBytes uint64  `json:"stream_bytes"`
	Share       float64 `json:"share_of_stream"`
}

// AsOfStage runs latticestate's projector with snapshots every `every`
// sequences over the whole stream into a fresh bucket (the stage's rate),
// then times the live host list of lattice and ?as_of= at points of the
// history through the HTTP API, requests times each.
func AsOfStage(ctx context.Context, js jetstream.JetStream, res *streams.Resources, lattice string, every uint64, requests int, progress Progress) (Stage, error) {
	st := Stage{Name: "asof"}
	if err := js.DeleteObjectStore(ctx, streams.SnapshotStore); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return st, fmt.Errorf("clear snapshots: %w", err)
	}
	obs, err := js.CreateObjectStore(ctx, streams.SnapshotStoreConfig(streams.DefaultOptions()))
	if err != nil {
		return st, err
	}
	target, err := replayTarget(ctx, js, res)
	if err != nil {
		return st, err
	}
	target.Snapshots = obs
	info, err := res.Events.Info(ctx)
	if err != nil {
		return st, err
	}
	p, err := pipeline.New(ctx, js, target, pipeline.WithLogger(slog.New(slog.DiscardHandler)), pipeline.WithSnapshotEvery(every))
	if err != nil {
		return st, err
	}
	elapsed, cpu, err := runToHead(ctx, p, info.State.LastSeq, progress)
	if err != nil {
		return st, err
	}
	st.Events, st.Seconds = info.State.LastSeq, elapsed
	st.rate(cpu)

	a, err := timeAsOf(ctx, js, lattice, info.State.LastSeq, requests)
	if err != nil {
		return st, err
	}
	status, err := obs.Status(ctx)
	if err != nil {
		return st, err
	}
	if info, err = res.Events.Info(ctx); err != nil {
		return st, err
	}
	a.Snapshots = SnapshotsCost{Every: every, Bytes: status.Size(), StreamBytes: info.State.Bytes}
	if info.State.Bytes > 0 {
		a.Snapshots.Share = float64(status.Size()) / float64(info.State.Bytes)
	}
	st.AsOf = a
	return st, nil
}

// timeAsOf serves the API from the benchmark's bucket and times it.
func timeAsOf(ctx context.Context, js jetstream.JetStream, lattice string, last uint64, requests int) (*AsOf, error) {
	v, err := view.New(js, view.WithBucket(streams.BenchReplayBucket))
	if err != nil {
		return nil, err
	}
	v.Start(ctx)
	defer v.Stop()
	// The view's first load of the bucket is not what is timed: on a busy
	// machine it can outlast one Sync, whose timeout the API answers with 503.
	loadBy := time.Now().Add(time.Minute)
	for {
		err := v.Sync(ctx)
		if err == nil {
			break
		}
		if time.Now().After(loadBy) || ctx.Err() != nil {
			return nil, fmt.Errorf("load %s into the state view: %w", streams.BenchReplayBucket, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	current := read.NewViewSource(v, read.NewBucket(js, streams.BenchReplayBucket))
	api := &httpapi.Server{Read: read.New(current, pipeline.NewHistory(js)), View: v, Healthy: func() error { return nil }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	path := srv.URL + "/api/v1/lattices/" + lattice + "/hosts"
	a := &AsOf{Lattice: lattice}
	live, hosts, err := medianGet(ctx, slices.Repeat([]string{path}, max(requests, 1)))
	if err != nil {
		return nil, err
	}
	a.LiveListMs, a.Hosts = live, hosts
	n := uint64(max(requests, 1))
	for _, seq := range []uint64{min(last, 1237), last / 2, last - min(last-1, 2*n)} {
		// The API keeps the lattices it folded last, and folds a point
		// from one kept before it: each timed request asks for another
		// point, from seq+n-1 down to seq, so that every one is folded
		// from the snapshot as the first request for a point is.
		point := func(i uint64) string { return path + "?as_of=" + strconv.FormatUint(min(seq+i, last), 10) }
		var urls, forward []string
		for i := range n {
			urls = append(urls, point(n-1-i))
			forward = append(forward, point(n+i))
		}
		ms, _, err := medianGet(ctx, urls)
		if err != nil {
			return nil, err
		}
		again, _, err := medianGet(ctx, slices.Repeat(urls[len(urls)-1:], len(urls)))
		if err != nil {
			return nil, err
		}
		ahead, _, err := medianGet(ctx, forward)
		if err != nil {
			return nil, err
		}
		pt := AsOfPoint{Seq: seq, Ms: ms, AgainMs: again, ForwardMs: ahead}
		if live > 0 {
			pt.Ratio = ms / live
		}
		a.WorstRatio = max(a.WorstRatio, pt.Ratio)
		a.Points = append(a.Points, pt)
	}
	return a, nil
}

// medianGet returns the median time of GETs of urls, one after the other,
// in ms, and the size of the last answer in hosts.
func medianGet(ctx context.Context, urls []string) (float64, int, error) {
	times := make([]float64, 0, len(urls))
	hosts := 0
	for _, url := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		times = append(times, float64(time.Since(start).Microseconds())/1000)
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
		}
		hosts = countHosts(body)
	}
	slices.Sort(times)
	return times[len(times)/2], hosts, nil
}

// countHosts counts the host documents of a host list.
func countHosts(body []byte) int {
	n := 0
	for i := 0; i+10 <= len(body); i++ {
		if string(body[i:i+10]) == `"host_id":` {
			n++
		}
	}
	return n
}
