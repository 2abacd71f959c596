package delivery

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// maxSource always draws the largest value, so every delay is its ceiling.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return math.MaxUint64 }

func TestBackoffGrowsToCap(t *testing.T) {
	b := &backoff{base: 2 * time.Second, cap: time.Hour, rand: rand.New(maxSource{})}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	for i, w := range want {
		if got := b.delay(i + 1); got != w {
			t.Errorf("delay after failure %d = %v, want %v", i+1, got, w)
		}
	}
	// 2 s·2^11 = 4096 s passes the hour; from there on the cap holds, and a
	// huge attempt count does not overflow.
	for _, n := range []int{12, 13, 64, 1000, math.MaxInt32} {
		if got := b.delay(n); got != time.Hour {
			t.Errorf("delay after failure %d = %v, want the cap", n, got)
		}
	}
	huge := &backoff{base: time.Second, cap: time.Duration(math.MaxInt64 - 1), rand: rand.New(maxSource{})}
	if got := huge.ceiling(200); got != huge.cap {
		t.Errorf("ceiling with a huge cap = %v, want the cap", got)
	}
}

func TestBackoffFullJitterBounds(t *testing.T) {
	for name, b := range map[string]*backoff{
		"seeded":  {base: 2 * time.Second, cap: time.Hour, rand: rand.New(rand.NewPCG(1, 2))},
		"default": {base: 2 * time.Second, cap: time.Hour},
	} {
		for n := 1; n <= 14; n++ {
			ceiling := min(2*time.Second<<(n-1), time.Hour)
			var low, high bool
			for range 200 {
				d := b.delay(n)
				if d < 0 || d > ceiling {
					t.Fatalf("%s: delay after failure %d = %v, outside [0, %v]", name, n, d, ceiling)
				}
				low, high = low || d < ceiling/4, high || d > ceiling*3/4
			}
			// Full jitter spreads over the whole range, not just near the top.
			if !low || !high {
				t.Errorf("%s: delays after failure %d do not span [0, %v]", name, n, ceiling)
			}
		}
	}
}
