package challenge

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Expired records nobody reads again must not pile up.
func TestMemoryStorePurgesExpired(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewMemoryStore(MemoryClock(func() time.Time { return now }))
	ctx := context.Background()
	for i := range 10_000 {
		if err := s.Put(ctx, fmt.Sprint("k", i), Record{Hash: []byte("h")}, time.Second); err != nil {
			t.Fatal(err)
		}
		now = now.Add(100 * time.Millisecond) // about ten records live at a time
	}
	if n := len(s.records); n > 2*minSweep {
		t.Fatalf("%d records held, want at most %d: expired records are not purged", n, 2*minSweep)
	}
}
