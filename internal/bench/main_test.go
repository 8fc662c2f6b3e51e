package bench_test

import (
	"testing"

	"go.uber.org/goleak"

	"latticestate/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, natstest.LibraryLeaks...)
}
