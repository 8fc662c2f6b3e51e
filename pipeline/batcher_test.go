package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Redelivered events are put back in stream order, each once.
func TestInStreamOrder(t *testing.T) {
	events := []capturedEvent{{seq: 7}, {seq: 5}, {seq: 7}, {seq: 6}, {seq: 5}}
	require.False(t, ascending(events))
	got := inStreamOrder(events)
	var seqs []uint64
	for _, e := range got {
		seqs = append(seqs, e.seq)
	}
	require.Equal(t, []uint64{5, 6, 7}, seqs)
	require.True(t, ascending(got))
}
