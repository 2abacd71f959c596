package identity

import "context"

// Acquire takes one of h's slots, as a hash in progress would, so tests can
// fill the pool and watch callers queue.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return func() { h.slots.Release(1) }, nil
}
