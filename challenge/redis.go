package challenge

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

const defaultRedisPrefix = "authd:"

// RedisStore keeps each record in one Redis hash, at <prefix>{<key>}, with
// fields h (hash), p (payload) and a (attempts). The braces are a Redis
// Cluster hash tag: a later script that touches several keys of one record
// (a cooldown beside a code, say) can tag them alike and stay on one slot.
//
// Every operation that reads and writes is a Lua script, so it is atomic
// across any number of authd instances.
type RedisStore struct {
	client rueidis.Client
	prefix string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore on client whose keys start with prefix
// ("authd:" when empty).
func NewRedisStore(client rueidis.Client, prefix string) *RedisStore {
	if prefix == "" {
		prefix = defaultRedisPrefix
	}
	return &RedisStore{client: client, prefix: prefix}
}

var (
	// putScript replaces the whole hash so no field (above all the attempt
	// count) survives from an earlier record.
	putScript = rueidis.NewLuaScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'p', ARGV[2], 'a', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

	// attemptScript counts the attempt before returning the hash, so two
	// concurrent verifiers never see the same attempt number.
	attemptScript = rueidis.NewLuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
local r = redis.call('HMGET', KEYS[1], 'h', 'p')
return {r[1], r[2], a}
`)

	// consumeScript compares and deletes in one step, so of concurrent
	// consumers exactly one sees 1. The comparison is Lua string equality,
	// which may return early at the first differing byte; that leaks
	// nothing useful, because the stored value is an HMAC under a key Redis
	// never sees: learning how many leading bytes of a digest match does
	// not bring an attacker closer to a code whose digest they cannot
	// compute. The secret-dependent decision (does the code match?) is made
	// in Go with hmac.Equal before this script runs.
	consumeScript = rueidis.NewLuaScript(`
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)
)

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, key string, rec Record, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("challenge: redis put: ttl %v is not positive", ttl)
	}
	// PEXPIRE takes whole milliseconds and deletes the key at 0.
	ms := max(ttl.Milliseconds(), 1)
	args := []string{string(rec.Hash), string(rec.Payload), strconv.FormatInt(ms, 10)}
	if err := putScript.Exec(ctx, s.client, []string{s.key(key)}, args).Error(); err != nil {
		return fmt.Errorf("challenge: redis put: %w", err)
	}
	return nil
}

// Attempt implements Store.
func (s *RedisStore) Attempt(ctx context.Context, key string) (Record, error) {
	vals, err := attemptScript.Exec(ctx, s.client, []string{s.key(key)}, nil).ToArray()
	if rueidis.IsRedisNil(err) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("challenge: redis attempt: %w", err)
	}
	if len(vals) != 3 {
		return Record{}, fmt.Errorf("challenge: redis attempt: script returned %d values, want 3", len(vals))
	}
	hash, err := vals[0].ToString()
	if err != nil {
		return Record{}, fmt.Errorf("challenge: redis attempt: read hash: %w", err)
	}
	payload, err := vals[1].ToString()
	if err != nil {
		return Record{}, fmt.Errorf("challenge: redis attempt: read payload: %w", err)
	}
	attempts, err := vals[2].AsInt64()
	if err != nil {
		return Record{}, fmt.Errorf("challenge: redis attempt: read attempts: %w", err)
	}
	return Record{Hash: bytesOrNil(hash), Payload: bytesOrNil(payload), Attempts: int(attempts)}, nil
}

// Consume implements Store.
func (s *RedisStore) Consume(ctx context.Context, key string, hash []byte) (bool, error) {
	n, err := consumeScript.Exec(ctx, s.client, []string{s.key(key)}, []string{string(hash)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("challenge: redis consume: %w", err)
	}
	return n == 1, nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, key string) error {
	if err := s.client.Do(ctx, s.client.B().Del().Key(s.key(key)).Build()).Error(); err != nil {
		return fmt.Errorf("challenge: redis delete: %w", err)
	}
	return nil
}

func (s *RedisStore) key(key string) string {
	return s.prefix + "{" + key + "}"
}

// bytesOrNil matches MemoryStore, which returns nil for empty values.
func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
