package challenge

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// LimitRedisStore keeps each counter and each lock in one Redis string, at
// <prefix>{limit:<key>}. A counter's value is its count and its TTL what is
// left of its window; a lock's value is 1 and its TTL what is left of the
// lock. Every script touches one key, and operations on several keys send
// one command per key, so it runs unchanged on Redis Cluster (the braces
// are the hash tag every authd key carries). Expiry is judged by the Redis
// server's clock, which every instance therefore shares.
type LimitRedisStore struct {
	client rueidis.Client
	prefix string
}

var _ LimitStore = (*LimitRedisStore)(nil)

// NewLimitRedisStore returns a LimitRedisStore on client whose keys start
// with prefix ("authd:" when empty).
func NewLimitRedisStore(client rueidis.Client, prefix string) *LimitRedisStore {
	if prefix == "" {
		prefix = defaultRedisPrefix
	}
	return &LimitRedisStore{client: client, prefix: prefix}
}

var (
	// hitScript reads, compares and increments in one step, so concurrent
	// hits are counted exactly and never pass limit. The expiry is set only
	// on a key that has none (PTTL -1: just created by INCR), which makes
	// the window fixed from the first hit and repairs a counter that lost
	// its TTL instead of leaving it to refuse forever.
	hitScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ok = 0
if n < tonumber(ARGV[1]) then
  n = redis.call('INCR', KEYS[1])
  ok = 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl, ok}
`)

	// lockScript only ever lengthens a lock. PTTL is -2 for an absent key
	// and -1 for one without expiry, both below any d, so both get the
	// lock with its expiry.
	lockScript = rueidis.NewLuaScript(`
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
end
return 1
`)

	// unhitScript deletes rather than decrements to zero: a counter left
	// at 0 would keep its old expiry, and a cooldown taken back that way
	// would let the next send through with only the rest of the old
	// cooldown ahead of it.
	unhitScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 1 then
  redis.call('DECR', KEYS[1])
elseif n == 1 then
  redis.call('DEL', KEYS[1])
end
return 1
`)

	// getScript reads a value and its TTL together, so a key that expires
	// between the two reads is never reported with a count and no time
	// left. It is sent as EVAL_RO rather than EVALSHA because
	// ExecMulti would otherwise SCRIPT LOAD it on every node at each call;
	// the script is short and Redis caches its compilation.
	getScript = rueidis.NewLuaScriptReadOnlyNoSha(`
local n = redis.call('GET', KEYS[1])
if not n then
  return {0, 0}
end
return {tonumber(n), redis.call('PTTL', KEYS[1])}
`)
)

// Hit implements LimitStore.
func (s *LimitRedisStore) Hit(ctx context.Context, key string, limit int64, window time.Duration) (LimitEntry, bool, error) {
	if err := checkHit(limit, window); err != nil {
		return LimitEntry{}, false, fmt.Errorf("challenge: limit redis hit: %w", err)
	}
	args := []string{strconv.FormatInt(limit, 10), strconv.FormatInt(redisMillis(window), 10)}
	vals, err := hitScript.Exec(ctx, s.client, []string{s.key(key)}, args).AsIntSlice()
	if err != nil {
		return LimitEntry{}, false, fmt.Errorf("challenge: limit redis hit: %w", err)
	}
	if len(vals) != 3 {
		return LimitEntry{}, false, fmt.Errorf("challenge: limit redis hit: script returned %d values, want 3", len(vals))
	}
	return LimitEntry{Count: vals[0], TTL: redisTTL(vals[1])}, vals[2] == 1, nil
}

// Unhit implements LimitStore.
func (s *LimitRedisStore) Unhit(ctx context.Context, key string) error {
	if err := unhitScript.Exec(ctx, s.client, []string{s.key(key)}, nil).Error(); err != nil {
		return fmt.Errorf("challenge: limit redis unhit: %w", err)
	}
	return nil
}

// Get implements LimitStore. The keys go out in one pipelined round trip.
func (s *LimitRedisStore) Get(ctx context.Context, keys ...string) ([]LimitEntry, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	execs := make([]rueidis.LuaExec, len(keys))
	for i, k := range keys {
		execs[i] = rueidis.LuaExec{Keys: []string{s.key(k)}}
	}
	out := make([]LimitEntry, len(keys))
	for i, r := range getScript.ExecMulti(ctx, s.client, execs...) {
		vals, err := r.AsIntSlice()
		if err != nil {
			return nil, fmt.Errorf("challenge: limit redis get: %w", err)
		}
		if len(vals) != 2 {
			return nil, fmt.Errorf("challenge: limit redis get: script returned %d values, want 2", len(vals))
		}
		out[i] = LimitEntry{Count: vals[0], TTL: redisTTL(vals[1])}
	}
	return out, nil
}

// Lock implements LimitStore.
func (s *LimitRedisStore) Lock(ctx context.Context, key string, d time.Duration) error {
	if err := checkLock(d); err != nil {
		return fmt.Errorf("challenge: limit redis lock: %w", err)
	}
	args := []string{strconv.FormatInt(redisMillis(d), 10)}
	if err := lockScript.Exec(ctx, s.client, []string{s.key(key)}, args).Error(); err != nil {
		return fmt.Errorf("challenge: limit redis lock: %w", err)
	}
	return nil
}

// Reset implements LimitStore. One DEL per key, because a multi-key DEL
// across slots fails on Redis Cluster.
func (s *LimitRedisStore) Reset(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.client.B().Del().Key(s.key(k)).Build()
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("challenge: limit redis reset: %w", err)
		}
	}
	return nil
}

func (s *LimitRedisStore) key(key string) string {
	return s.prefix + "{limit:" + key + "}"
}

// redisMillis rounds d up to whole milliseconds, the unit of PX and PEXPIRE:
// rounding down could turn a short lock into none (PX 0 is an error) or
// end a window early.
func redisMillis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// redisTTL turns a PTTL reply into a duration; the negative replies (-2 absent,
// -1 no expiry) mean nothing is pending.
func redisTTL(ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
