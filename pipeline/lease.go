package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// lease elects the one projector of a consumer that pulls from it: the
// projectors sharing the consumer compete for its key in the meta bucket
// (streams.LeaseKey). The holder renews the key every leaseRenew; the others
// stand by, watching its revision, and take it over once it has not changed
// for streams.LeaseTTL, or at once when the holder deletes it on shutdown.
// Every write is a compare-and-set on the revision last seen, so of two
// projectors taking over at once only one wins. A holder whose renewal
// finds another's write has lost the lease and stops pulling.
//
// A lease costs one small write a second, whatever the event rate; the
// consumer delivers without priority groups, so its messages carry no pin
// header for the server to add and the client to parse.
type lease struct {
	kv  jetstream.KeyValue
	key string
	// yieldKey is where a replay asks the holder to hand the lease over.
	yieldKey string
	// holder is this projector's value of the key: host name, process id
	// and a random part, unique to the Projector.
	holder []byte
	// rev is the revision of the holder's last write of the key; 0 when
	// the lease is not held. Only the goroutine holding the lease uses it.
	rev uint64
	log *slog.Logger
}

// leaseRenew is how often the holder renews the lease and a standby looks
// at it.
const leaseRenew = streams.LeaseTTL / 5

func newLease(kv jetstream.KeyValue, consumer string, log *slog.Logger) *lease {
	host, _ := os.Hostname()
	return &lease{
		kv:       kv,
		key:      streams.LeaseKey(consumer),
		yieldKey: streams.YieldKey(consumer),
		holder:   fmt.Appendf(nil, "%s/%d/%s", host, os.Getpid(), rand.Text()[:10]),
		log:      log,
	}
}

// acquire waits until the lease is held, or ctx ends.
func (l *lease) acquire(ctx context.Context) error {
	// The revision of another holder's last write, and when it was first
	// seen: by this projector's clock, so clocks need not agree.
	var seen uint64
	var seenAt time.Time
	var yields yieldWatch
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		if yields.holdsBack(ctx, l) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		e, err := l.kv.Get(ctx, l.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			// Never held, or released: Create fails if another is first.
			if l.take(ctx, 0, "") {
				return nil
			}
		case err != nil:
			l.log.Debug("read lease", "key", l.key, "err", err)
		case bytes.Equal(e.Value(), l.holder):
			// Still this projector's: its renewals failed for a while
			// and nobody took it over.
			if l.take(ctx, e.Revision(), "") {
				return nil
			}
		case e.Revision() != seen:
			seen, seenAt = e.Revision(), time.Now()
		case time.Since(seenAt) >= streams.LeaseTTL:
			if l.take(ctx, seen, string(e.Value())) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// take writes the key expecting revision rev (0: that it has none) and
// reports whether the lease is now held. from is the holder taken over
// from, "" when none is known to be gone.
func (l *lease) take(ctx context.Context, rev uint64, from string) bool {
	var err error
	var next uint64
	if rev == 0 {
		next, err = l.kv.Create(ctx, l.key, l.holder)
	} else {
		next, err = l.kv.Update(ctx, l.key, l.holder, rev)
	}
	if err != nil {
		l.log.Debug("take lease", "key", l.key, "err", err)
		return false
	}
	l.rev = next
	if from != "" {
		l.log.Info("took over the lease of a projector that stopped renewing it", "key", l.key, "from", from)
	}
	return true
}

// keep renews the held lease every leaseRenew until ctx ends, and calls
// lost and returns if another projector holds it now. When another process
// asks for the lease (YieldKey), it calls yield once: the holder then
// finishes its window and releases the lease. Renewals that fail
// otherwise (the server is unavailable) are retried; should they fail for
// longer than streams.LeaseTTL, a standby may take the lease over, and the
// next renewal finds out.
func (l *lease) keep(ctx context.Context, lost, yield func()) {
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	var yields yieldWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if yield != nil && yields.holdsBack(ctx, l) {
			l.log.Info("handing the lease over on request", "key", l.key)
			yield()
			yield = nil
		}
		rev, err := l.kv.Update(ctx, l.key, l.holder, l.rev)
		switch {
		case err == nil:
			l.rev = rev
		case ctx.Err() != nil:
			return
		case isRevisionMismatch(err):
			// A renewal whose reply was lost still wrote this holder.
			if e, err := l.kv.Get(ctx, l.key); err == nil && bytes.Equal(e.Value(), l.holder) {
				l.rev = e.Revision()
				continue
			}
			l.log.Warn("lease taken over by another projector", "key", l.key)
			l.rev = 0
			lost()
			return
		default:
			l.log.Debug("renew lease", "key", l.key, "err", err)
		}
	}
}

// release deletes the held lease so that a standby takes over at once.
func (l *lease) release(ctx context.Context) {
	if l.rev == 0 {
		return
	}
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		l.log.Debug("release lease", "key", l.key, "err", err)
	}
	l.rev = 0
}

// yieldWatch follows requests to hand the lease over. A request holds the
// projectors back for streams.YieldTTL after it was first seen, by the
// watcher's own clock, so one left by a replay that died expires.
type yieldWatch struct {
	rev    uint64
	seenAt time.Time
}

// holdsBack reports whether a fresh request of another process is pending.
func (y *yieldWatch) holdsBack(ctx context.Context, l *lease) bool {
	e, err := l.kv.Get(ctx, l.yieldKey)
	if err != nil || bytes.Equal(e.Value(), l.holder) {
		return false
	}
	if e.Revision() != y.rev {
		y.rev, y.seenAt = e.Revision(), time.Now()
	}
	return time.Since(y.seenAt) < streams.YieldTTL
}

// requestHandOver asks the holder of the lease to hand it over to l.
func (l *lease) requestHandOver(ctx context.Context) error {
	if _, err := l.kv.Put(ctx, l.yieldKey, l.holder); err != nil {
		return fmt.Errorf("ask for lease %s: %w", l.key, err)
	}
	return nil
}

// handedOver withdraws l's request once it holds the lease.
func (l *lease) handedOver(ctx context.Context) {
	if err := l.kv.Delete(ctx, l.yieldKey); err != nil {
		l.log.Debug("withdraw lease request", "key", l.yieldKey, "err", err)
	}
}
