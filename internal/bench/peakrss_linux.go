package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// watchPeakRSS follows a running child's own peak resident memory, VmHWM in
// /proc/<pid>/status, until stop, which returns the highest value read in
// KiB (false if none was). ru_maxrss is no use here: exec keeps the
// high-water mark of the memory it replaced, which for a child started with
// vfork is the parent's, embedded server and all.
func watchPeakRSS(pid int) (stop func() (int64, bool)) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var (
		mu   sync.Mutex
		peak int64
		seen bool
	)
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		if kib, ok := vmHWM(b); ok {
			mu.Lock()
			peak, seen = max(peak, kib), true
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (int64, bool) {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak, seen
	}
}

// vmHWM reads the VmHWM line ("VmHWM:    123456 kB") of a status file.
func vmHWM(status []byte) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		return n, err == nil
	}
	return 0, false
}
