//go:build !linux

package bench

// watchPeakRSS is not available: the caller falls back to ru_maxrss.
func watchPeakRSS(int) (stop func() (int64, bool)) {
	return func() (int64, bool) { return 0, false }
}
