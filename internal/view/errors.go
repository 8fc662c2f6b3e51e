package view

import "errors"

var (
	// ErrTooManyWatchers is returned by Subscribe while the view has as
	// many watchers as it allows.
	ErrTooManyWatchers = errors.New("too many watchers")
	// ErrNotCurrent is returned by Sync when the view could not catch up
	// with the state bucket in time, and by reads before its first load.
	ErrNotCurrent = errors.New("the state view is not current")
	// ErrUnknownRevision is returned by Subscribe for a resume point the
	// view cannot continue from exactly: newer than anything it holds, or
	// older than the deletions it remembers.
	ErrUnknownRevision = errors.New("cannot resume from this revision")
	// ErrStopped is returned once the view has stopped, and ends its
	// watchers.
	ErrStopped = errors.New("the state view has stopped")

	// ErrSlowWatcher ends a watcher that fell more than the view's buffer
	// behind.
	ErrSlowWatcher = errors.New("watcher too slow: its buffer is full")
	// ErrReloaded ends the watchers when the view reloads the same bucket
	// (its watch ended): they may resume from the last revision they saw.
	ErrReloaded = errors.New("the state view reloaded the bucket")
	// ErrRecreated ends the watchers when the bucket was deleted and
	// created anew: revisions of the old bucket mean nothing in the new
	// one, so they must start over.
	ErrRecreated = errors.New("the state bucket was created anew")

	errClosed = errors.New("watcher closed")
)

// Resumable reports whether a watcher ended by err may resume from the
// last revision it saw; otherwise it must start over from every current
// host.
func Resumable(err error) bool { return !errors.Is(err, ErrRecreated) }
