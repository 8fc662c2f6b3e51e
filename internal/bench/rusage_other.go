//go:build !unix

package bench

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("peak RSS and free space are read only on Unix")

func maxRSSKiB(*os.ProcessState) (int64, error) { return 0, errUnsupported }

// FreeBytes is not known here.
func FreeBytes(string) (uint64, error) { return 0, errUnsupported }
