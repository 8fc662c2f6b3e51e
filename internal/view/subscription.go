package view

import (
	"sync"
	"sync/atomic"
)

// Change is one change of a host as a watcher sees it.
type Change struct {
	// Rev is the bucket revision of the change.
	Rev    uint64
	HostID string
	// Doc is the host document; nil when the host is gone, or no longer
	// matches the watcher's filter.
	Doc []byte
}

// WatchOptions say what a watcher receives.
type WatchOptions struct {
	// Hosts asks for the changes of the hosts the filter matches.
	Hosts bool
	// Summary asks to be woken when the lattice's counts may have changed.
	Summary bool
	// After, when not 0, resumes a watcher that saw every change up to this
	// revision: it starts with what changed since instead of every host.
	After uint64
}

// Subscription is one watcher of a lattice. The view queues its changes
// without ever waiting for it: a watcher that falls more than the view's
// buffer behind is dropped (Done closes, Err says why), and resumes or
// starts over as its client chooses.
type Subscription struct {
	v       *View
	lattice string
	filter  Filter
	opts    WatchOptions
	max     int

	wake         chan struct{}
	done         chan struct{}
	summaryDirty atomic.Bool
	closeOnce    sync.Once

	mu    sync.Mutex
	queue []Change
	err   error
}

func newSubscription(v *View, lattice string, f Filter, o WatchOptions, max int) *Subscription {
	return &Subscription{v: v, lattice: lattice, filter: f, opts: o, max: max,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Wake receives a value when changes are queued or the summary may have
// changed.
func (s *Subscription) Wake() <-chan struct{} { return s.wake }

// Done is closed when the view dropped the watcher; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the watcher was dropped: ErrSlowWatcher, ErrReset or
// ErrStopped; nil while it is not.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Take moves the queued changes into buf (reused) and returns it.
func (s *Subscription) Take(buf []Change) []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf, s.queue = s.queue, buf[:0]
	return buf
}

// SummaryChanged reports, once, that the lattice's counts may have changed
// since it was last called.
func (s *Subscription) SummaryChanged() bool { return s.summaryDirty.Swap(false) }

// Close ends the watcher; it is idempotent.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() { s.v.unsubscribe(s) })
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// offer queues what the change of a host from old to cur (either nil)
// means to this watcher of hosts; it reports false when the watcher has
// just been dropped for falling behind. The view holds its lock.
func (s *Subscription) offer(id string, rev uint64, old, cur *hostEntry) bool {
	var c Change
	switch {
	case cur != nil && s.filter.match(cur):
		c = Change{Rev: rev, HostID: id, Doc: cur.raw}
	case old != nil && s.filter.match(old):
		c = Change{Rev: rev, HostID: id}
	default:
		return true
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return true
	}
	if len(s.queue) >= s.max {
		s.mu.Unlock()
		s.fail(ErrSlowWatcher)
		return false
	}
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	s.signal()
	return true
}

// touch tells a summary watcher that the counts may have changed; it is
// woken once until it reads them.
func (s *Subscription) touch() {
	if !s.summaryDirty.Swap(true) {
		s.signal()
	}
}

// fail drops the watcher with err, once.
func (s *Subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	s.queue = nil
	close(s.done)
}
