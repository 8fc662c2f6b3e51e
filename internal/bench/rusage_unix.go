//go:build unix

package bench

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// maxRSSKiB is the peak resident memory of an exited process: ru_maxrss,
// in KiB on Linux and the BSDs, in bytes on macOS.
func maxRSSKiB(ps *os.ProcessState) (int64, error) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, errors.New("no resource usage for the child process")
	}
	rss := int64(ru.Maxrss)
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		rss /= 1024
	}
	return rss, nil
}

// FreeBytes is the space available to unprivileged users on the file
// system holding dir.
func FreeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
