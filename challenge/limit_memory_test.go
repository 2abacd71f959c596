package challenge

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// Counters for names nobody uses again (an attacker cycling through
// accounts or addresses) must not pile up.
func TestLimitMemoryStorePurgesExpired(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewLimitMemoryStore(LimitMemoryClock(func() time.Time { return now }))
	ctx := context.Background()
	for i := range 10_000 {
		if _, _, err := s.Hit(ctx, fmt.Sprint("fail:account:", i), math.MaxInt64, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.Lock(ctx, fmt.Sprint("lock:account:", i), time.Second); err != nil {
			t.Fatal(err)
		}
		now = now.Add(100 * time.Millisecond) // about twenty entries live at a time
	}
	if n := len(s.entries); n > 2*minSweep {
		t.Fatalf("%d entries held, want at most %d: expired entries are not purged", n, 2*minSweep)
	}
}
