package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"latticestate/internal/eventtest"
	"latticestate/internal/natstest"
	"latticestate/projections"
	"latticestate/streams"
)

// The promises of a docStore, kept alike by the state bucket and by the
// in-memory store the applier's tests crash: the in-memory one stands in
// for the bucket only as far as they agree.
func TestDocStore_Contract(t *testing.T) {
	stores := map[string]func(t *testing.T) (docStore, func() int){
		"kv": func(t *testing.T) (docStore, func() int) {
			s := natstest.MustRunServer(t)
			_, js := natstest.MustConnect(t, s)
			res, err := streams.Ensure(context.Background(), js, streams.DefaultOptions())
			require.NoError(t, err)
			deadLetters := func() int {
				info, err := res.DLQ.Info(context.Background())
				require.NoError(t, err)
				return int(info.State.Msgs)
			}
			return newKVStore(js, res.StateStream, res.State.Bucket(), streams.ConsumerName("")), deadLetters
		},
		"memory": func(*testing.T) (docStore, func() int) {
			s := newMemStore(&faultPlan{})
			return s, func() int { return len(s.dead) }
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			store, deadLetters := open(t)
			testDocStore(t, store, deadLetters)
		})
	}
}

func testDocStore(t *testing.T, store docStore, deadLetters func() int) {
	ctx := context.Background()
	host := eventtest.HostID(1)
	key := streams.HostKey("default", host)
	write := func(next, base *document) (uint64, error) {
		w, err := store.Write(next, base)
		if err != nil {
			return 0, err
		}
		return w.wait(ctx)
	}

	never, err := store.Load(ctx, key)
	require.NoError(t, err)
	require.Equal(t, &document{key: key}, never, "a key never written")

	set := newDocSet()
	set.add(7, streams.HostEventSubject("default"), eventtest.HostHeartbeat(host, eventtest.Heartbeat{}))
	v1 := set.docs[key]
	rev1, err := write(v1, never)
	require.NoError(t, err)
	require.NotZero(t, rev1)
	got, err := store.Load(ctx, key)
	require.NoError(t, err)
	require.Equal(t, rev1, got.rev)
	require.Equal(t, uint64(7), got.Seq)
	want, err := v1.encode()
	require.NoError(t, err)
	body, err := got.encode()
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(body))

	_, err = write(v1, never)
	require.True(t, isRevisionMismatch(err), "a write expecting a revision the key is no longer at: %v", err)

	gone := &document{key: key, Document: projections.Document{Seq: 9}}
	rev2, err := write(gone, got)
	require.NoError(t, err)
	require.Greater(t, rev2, rev1)
	got, err = store.Load(ctx, key)
	require.NoError(t, err)
	require.False(t, got.Live(), "deleted")
	require.Equal(t, uint64(9), got.Seq, "a deleted document keeps its seq")
	require.Equal(t, rev2, got.rev)

	other := streams.HostKey("blue", host)
	_, err = write(&document{key: other, Document: projections.Document{Seq: 3, Host: &projections.Host{HostID: host, Seq: 3}}}, &document{key: other})
	require.NoError(t, err)
	all, err := store.LoadAll(ctx, []string{"blue"})
	require.NoError(t, err)
	require.Equal(t, []string{other}, slices.Collect(maps.Keys(all)))
	all, err = store.LoadAll(ctx, nil)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{key, other}, slices.Collect(maps.Keys(all)))
	require.False(t, all[key].Live())

	reason := errors.New("not json")
	for range 2 {
		w, err := store.DeadLetter(4, streams.HostEventSubject("default"), []byte("{"), reason)
		require.NoError(t, err)
		_, err = w.wait(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, 1, deadLetters(), "a dead letter sent twice is stored once")

	cp, err := store.Checkpoint(ctx)
	require.NoError(t, err)
	require.Zero(t, cp, "no checkpoint saved")
	saved := checkpoint{seq: 9, stream: "2024-01-01T00:00:00Z"}
	require.NoError(t, store.SaveCheckpoint(ctx, saved))
	cp, err = store.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, saved, cp)
}
