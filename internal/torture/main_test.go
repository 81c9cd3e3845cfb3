package torture

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var (
	soakFor = flag.Duration("torture.soak", 0,
		"run every scenario repeatedly, with fresh seeds, for this long in total (TestSoak); 0 skips the soak")
	seedFlag = flag.Uint64("torture.seed", 0,
		"the seed of the scenarios' first run (0: a fixed seed per scenario); a failure prints the seed to reuse")
	callersFlag = flag.Int("torture.callers", 1000, "goroutines driving each scenario")
)

// TestMain fails the package if any test leaves a goroutine behind: no
// worker, hedge, abandoned call or timer goroutine may outlive its run.
func TestMain(m *testing.M) {
	goexitValues() // learnt outside any synctest bubble
	goleak.VerifyTestMain(m)
}
