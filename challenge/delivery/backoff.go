package delivery

import (
	"math/rand/v2"
	"sync"
	"time"
)

// backoff spaces the attempts of one message with exponential backoff and
// full jitter: after the nth failed attempt the next waits a uniformly
// random time in [0, min(cap, base·2^(n-1))]. The jitter spreads messages
// that failed together (a provider outage) so they do not come back as one
// wave and knock the provider over again as it recovers.
type backoff struct {
	base, cap time.Duration

	mu   sync.Mutex // rand.Rand is not safe for concurrent use
	rand *rand.Rand // nil: the goroutine-safe top-level functions
}

// ceiling is the longest wait after failed attempt n (n >= 1).
func (b *backoff) ceiling(n int) time.Duration {
	d := b.base
	for i := 1; i < n && d < b.cap; i++ {
		if d > b.cap/2 { // doubling would pass the cap, or overflow
			return b.cap
		}
		d *= 2
	}
	return min(d, b.cap)
}

// delay draws the wait after failed attempt n.
func (b *backoff) delay(n int) time.Duration {
	c := int64(b.ceiling(n)) + 1 // inclusive: the ceiling itself may be drawn
	if b.rand == nil {
		return time.Duration(rand.Int64N(c))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Duration(b.rand.Int64N(c))
}
