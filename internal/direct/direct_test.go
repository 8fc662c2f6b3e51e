package direct_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"latticestate/internal/direct"
	"latticestate/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, natstest.LibraryLeaks...) }

func TestLast(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	// A history of 3 keeps older values the scan must pass over.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B", History: 3})
	require.NoError(t, err)
	for i := range 3 {
		for _, k := range []string{"l.hosts.a", "l.hosts.b", "l.hosts.c", "m.hosts.a", "l.links.x"} {
			_, err := kv.PutString(ctx, k, fmt.Sprintf("%s-%d", k, i))
			require.NoError(t, err)
		}
	}
	require.NoError(t, kv.Delete(ctx, "l.hosts.b"))
	require.NoError(t, kv.Purge(ctx, "l.hosts.c"))
	_, err = kv.PutString(ctx, "l.hosts.a", "final")
	require.NoError(t, err)

	got := map[string]string{}
	next, err := direct.Last(ctx, js, "B", []string{"l.hosts.*", "l.links.*"}, func(e direct.Entry) error {
		got[e.Key] = string(e.Value)
		want, err := kv.Get(ctx, e.Key)
		require.NoError(t, err)
		require.Equal(t, want.Revision(), e.Revision, e.Key)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"l.hosts.a": "final", "l.links.x": "l.links.x-2"}, got)
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq+1, next)

	t.Run("empty bucket", func(t *testing.T) {
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "E"})
		require.NoError(t, err)
		n := 0
		next, err := direct.Last(ctx, js, "E", []string{">"}, func(direct.Entry) error { n++; return nil })
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, uint64(1), next)
	})
	t.Run("no bucket", func(t *testing.T) {
		_, err := direct.Last(ctx, js, "NONE", []string{">"}, func(direct.Entry) error { return nil })
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	})
}

func TestWatch(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B"})
	require.NoError(t, err)
	_, err = kv.PutString(ctx, "l.hosts.old", "1")
	require.NoError(t, err)
	next, err := direct.Last(ctx, js, "B", []string{"l.hosts.*"}, func(direct.Entry) error { return nil })
	require.NoError(t, err)

	entries := make(chan direct.Entry, 100)
	done := make(chan error, 1)
	go func() {
		done <- direct.Watch(ctx, js, "B", "l.hosts.*", next, 10*time.Millisecond, func(e direct.Entry) error {
			entries <- e
			return nil
		})
	}()
	_, err = kv.PutString(ctx, "other.hosts.x", "no")
	require.NoError(t, err)
	for i := range 1500 {
		_, err = kv.PutString(ctx, fmt.Sprintf("l.hosts.k%d", i%3), fmt.Sprint(i))
		require.NoError(t, err)
		if i%500 == 0 {
			require.NoError(t, kv.Delete(ctx, "l.hosts.old"))
		}
	}
	// Every message of the filter, in order, deletes included: the ones
	// superseded since are gone from a history of one, never reordered.
	var last uint64
	deletes := 0
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		for {
			select {
			case e := <-entries:
				require.Greater(t, e.Revision, last)
				last = e.Revision
				if e.Op == jetstream.KeyValueDelete {
					deletes++
					require.Equal(t, "l.hosts.old", e.Key)
				}
				if e.Key == "l.hosts.k2" && string(e.Value) == "1499" {
					return nil
				}
			default:
				return fmt.Errorf("last revision %d", last)
			}
		}
	})
	require.GreaterOrEqual(t, deletes, 1)
	cancel()
	require.NoError(t, <-done)
}

func TestObjectStore(t *testing.T) {
	s := natstest.MustRunServer(t)
	_, js := natstest.MustConnect(t, s)
	ctx := context.Background()
	_, err := direct.OpenObjectStore(ctx, js, "S")
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "S"})
	require.NoError(t, err)
	d, err := direct.OpenObjectStore(ctx, js, "S")
	require.NoError(t, err)
	_, err = d.List(ctx)
	require.ErrorIs(t, err, jetstream.ErrNoObjectsFound)

	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: several chunks
	for name, data := range map[string][]byte{"big": big, "small": []byte("x"), "empty": nil, "gone": []byte("y")} {
		_, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: map[string]string{"k": name},
			Opts: &jetstream.ObjectMetaOptions{ChunkSize: 100000}}, bytes.NewReader(data))
		require.NoError(t, err)
	}
	require.NoError(t, obs.Delete(ctx, "gone"))

	list, err := d.List(ctx)
	require.NoError(t, err)
	want, err := obs.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, len(want))
	names := map[string]string{}
	for _, o := range list {
		names[o.Name] = o.Metadata["k"]
	}
	require.Equal(t, map[string]string{"big": "big", "small": "small", "empty": "empty"}, names)

	for _, name := range []string{"big", "small", "empty"} {
		got, err := d.GetBytes(ctx, name)
		require.NoError(t, err, name)
		w, err := obs.GetBytes(ctx, name)
		require.NoError(t, err)
		require.Equal(t, w, got, name)
	}
	_, err = d.GetBytes(ctx, "gone")
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound)
	_, err = d.GetBytes(ctx, "never")
	require.ErrorIs(t, err, jetstream.ErrObjectNotFound)

	t.Run("tampered chunks", func(t *testing.T) {
		info, err := obs.GetInfo(ctx, "small")
		require.NoError(t, err)
		_, err = js.Publish(ctx, "$O.S.C."+info.NUID, []byte("z"))
		require.NoError(t, err)
		_, err = d.GetBytes(ctx, "small")
		require.ErrorIs(t, err, direct.ErrDigestMismatch)
	})
}

// A batch nothing answers in full, as when permissions refuse the request,
// is an error, never an empty answer.
func TestScan_Unanswered(t *testing.T) {
	s := natstest.MustRunServerFromConfig(t, "../../deploy/nats/nats.conf")
	_, js := natstest.MustConnect(t, s, nats.UserInfo("emitter", "emitter-dev-password"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	n := 0
	_, err := direct.Last(ctx, js, "LATTICE_STATE", []string{">"}, func(direct.Entry) error { n++; return nil })
	require.Error(t, err)
	_, err = direct.Scan(ctx, js, "KV_LATTICE_STATE", ">", 1, func(*jetstream.RawStreamMsg) error { n++; return nil })
	require.ErrorIs(t, err, direct.ErrBatchTimeout)
	require.Zero(t, n)
}
