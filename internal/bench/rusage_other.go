//go:build !unix

package bench

import (
	"errors"
	"os"
	"time"
)

var errUnsupported = errors.New("peak RSS and free space are read only on Unix")

func maxRSSKiB(*os.ProcessState) (int64, error) { return 0, errUnsupported }

// FreeBytes is not known here.
func FreeBytes(string) (uint64, error) { return 0, errUnsupported }

// processCPU is not known here.
func processCPU() time.Duration { return 0 }
