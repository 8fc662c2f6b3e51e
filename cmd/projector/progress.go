package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports how far a long job got: a bar on a terminal, a log line
// every few seconds otherwise (CI logs stay readable).
type progress struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	start  time.Time
	last   time.Time
	base   uint64
	target uint64
	done   uint64
	// line is the log line's format: done, target, rate.
	line string
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts reporting progress from base towards target.
func newProgress(w io.Writer, tty bool, what string, base, target uint64) *progress {
	p := &progress{w: w, start: time.Now(), last: time.Now(), base: base, target: target,
		line: "replayed up to seq %d of %d (%.0f events/s)\n"}
	if tty {
		p.bar = progressbar.NewOptions64(int64(target-min(base, target)),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	}
	return p
}

// logAs sets the format of the log line written every few seconds off a
// terminal; it is given what is done, the target and the rate.
func (p *progress) logAs(format string) *progress {
	p.line = format
	return p
}

// set records that everything up to seq is done.
func (p *progress) set(seq, target uint64) {
	p.done, p.target = seq, target
	n := int64(seq - min(p.base, seq))
	if p.bar != nil {
		p.bar.ChangeMax64(int64(target - min(p.base, target)))
		_ = p.bar.Set64(n)
		return
	}
	if time.Since(p.last) >= 5*time.Second {
		p.last = time.Now()
		rate := float64(n) / time.Since(p.start).Seconds()
		fmt.Fprintf(p.w, p.line, seq, target, rate)
	}
}

// finish ends the bar.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
