package view

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"latticestate/streams"
)

// New returns a view of the state bucket, streams.StateBucket. Options:
// WithLogger, WithMaxWatchers, WithWatchBuffer, WithSyncTimeout,
// WithBucket.
func New(js jetstream.JetStream, opts ...Option) (*View, error) {
	v := &View{js: js, bucket: streams.StateBucket, log: slog.New(slog.DiscardHandler), maxWatchers: DefaultMaxWatchers,
		buffer: DefaultWatchBuffer, syncTimeout: DefaultSyncTimeout,
		reload: make(chan struct{}, 1), changed: make(chan struct{})}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	v.metrics = newMetrics(v)
	return v, nil
}

// Option configures a View.
type Option func(*View) error

// WithLogger logs to l (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(v *View) error {
		if l == nil {
			return errors.New("view: nil logger")
		}
		v.log = l
		return nil
	}
}

// WithMaxWatchers allows at most n watchers at once (default
// DefaultMaxWatchers); Subscribe refuses more.
func WithMaxWatchers(n int) Option {
	return func(v *View) error {
		if n < 1 {
			return fmt.Errorf("view: max watchers %d: want at least 1", n)
		}
		v.maxWatchers = n
		return nil
	}
}

// WithWatchBuffer drops a watcher once n changes wait for it (default
// DefaultWatchBuffer).
func WithWatchBuffer(n int) Option {
	return func(v *View) error {
		if n < 1 {
			return fmt.Errorf("view: watch buffer %d: want at least 1", n)
		}
		v.buffer = n
		return nil
	}
}

// WithSyncTimeout bounds how long Sync waits for the view to catch up
// (default DefaultSyncTimeout) when the caller's context has no earlier
// deadline.
func WithSyncTimeout(d time.Duration) Option {
	return func(v *View) error {
		if d <= 0 {
			return fmt.Errorf("view: sync timeout %v: want more than 0", d)
		}
		v.syncTimeout = d
		return nil
	}
}

// WithBucket views another bucket of documents than streams.StateBucket,
// such as the benchmark's.
func WithBucket(name string) Option {
	return func(v *View) error {
		if name == "" {
			return errors.New("view: empty bucket name")
		}
		v.bucket = name
		return nil
	}
}
