package bench

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVmHWM(t *testing.T) {
	kib, ok := vmHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t   1234 kB\nVmRSS:\t 1000 kB\n"))
	require.True(t, ok)
	require.EqualValues(t, 1234, kib)
	_, ok = vmHWM([]byte("Name:\tx\n"))
	require.False(t, ok)
	_, ok = vmHWM([]byte("VmHWM:\tlots\n"))
	require.False(t, ok)
}

// The peak followed is the child's own, not the larger parent's that the
// kernel's ru_maxrss of a vforked child reports.
func TestWatchPeakRSS_IsTheChilds(t *testing.T) {
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	self, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	parent, ok := vmHWM(self)
	require.True(t, ok)

	cmd := exec.Command("sleep", "0.3")
	require.NoError(t, cmd.Start())
	stop := watchPeakRSS(cmd.Process.Pid)
	require.NoError(t, cmd.Wait())
	child, ok := stop()
	require.True(t, ok, "no VmHWM read while the child ran")
	require.Positive(t, child)
	require.Less(t, child, parent/4, "child %d KiB against parent %d KiB", child, parent)
	ru, _ := maxRSSKiB(cmd.ProcessState)
	t.Logf("child VmHWM %d KiB, ru_maxrss %d KiB, parent %d KiB", child, ru, parent)
	require.Equal(t, byte(1), ballast[len(ballast)-1])
}
