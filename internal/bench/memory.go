package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// ChildReplay is one `projector replay` child process.
type ChildReplay struct {
	// Events is the last stream sequence it applied.
	Events  uint64
	Seconds float64
	// EventsPerSec is the rate it reported itself (0 if it did not).
	EventsPerSec float64
	// MaxRSSKiB is its peak resident memory.
	MaxRSSKiB int64
}

// rebuiltLine is replay's summary line on stdout.
var rebuiltLine = regexp.MustCompile(`rebuilt .+? up to stream sequence (\d+) in \S+ \(([0-9.]+) events/s\)`)

// RunChildReplay runs `exe replay` with args (the NATS URL, --to-seq …)
// as a child process, with its stderr (progress and the summary line) going
// to stderr and its stdout (the documents) dropped, and follows its peak RSS while it runs (on Linux; elsewhere the
// kernel's ru_maxrss once it has exited, which may count the parent's).
func RunChildReplay(ctx context.Context, exe string, args []string, stderr io.Writer) (ChildReplay, error) {
	var r ChildReplay
	var summary bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, append([]string{"replay"}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.MultiWriter(stderr, &summary)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("%s replay %v: %w", exe, args, err)
	}
	stop := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	peak, watched := stop()
	if err != nil {
		return r, fmt.Errorf("%s replay %v: %w", exe, args, err)
	}
	r.Seconds = since(start)
	if !watched {
		if peak, err = maxRSSKiB(cmd.ProcessState); err != nil {
			return r, err
		}
	}
	r.MaxRSSKiB = peak
	m := rebuiltLine.FindSubmatch(summary.Bytes())
	if m == nil {
		return r, fmt.Errorf("replay printed no summary line: %q", summary.Bytes())
	}
	r.Events, _ = strconv.ParseUint(string(m[1]), 10, 64)
	r.EventsPerSec, _ = strconv.ParseFloat(string(m[2]), 64)
	return r, nil
}

// MemoryStage summarises the child replays of the whole history and of its
// first quarter.
func MemoryStage(full, quarter ChildReplay) Stage {
	st := Stage{Name: "memory", Events: full.Events, Seconds: full.Seconds, EventsPerSec: full.EventsPerSec,
		Memory: &Memory{RSSKiB: full.MaxRSSKiB, QuarterEvents: quarter.Events, QuarterRSSKiB: quarter.MaxRSSKiB}}
	if quarter.MaxRSSKiB > 0 {
		st.Memory.GrowthRatio = float64(full.MaxRSSKiB) / float64(quarter.MaxRSSKiB)
	}
	return st
}
