package secrets

import (
	"context"
	"sync"
	"time"

	"github.com/acme/provider-credentials/shared/liveusage"
)

var (
	_ liveusage.Keys = (*Store)(nil)
	_ liveusage.Keys = (*KeyCache)(nil)
)

// KeyCache keeps keys read for probing in memory, per Lambda instance,
// keyed by secret name and version: a credential whose key changed names a
// new version, so no instance can serve the old key. Entries expire after
// ttl and the cache holds at most max of them.
type KeyCache struct {
	store *Store
	ttl   time.Duration
	max   int
	now   func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct{ name, version string }

type cacheEntry struct {
	key     string
	expires time.Time
}

// NewKeyCache returns a cache in front of store.
func NewKeyCache(store *Store, ttl time.Duration, max int) *KeyCache {
	return &KeyCache{store: store, ttl: ttl, max: max, now: time.Now, entries: map[cacheKey]cacheEntry{}}
}

// Key returns the key stored in version of secret name.
func (c *KeyCache) Key(ctx context.Context, name, version string) (string, error) {
	k := cacheKey{name, version}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	key, err := c.store.Key(ctx, name, version)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Full: drop the expired entries, then, if that was not enough,
		// any until half the cache is free, so that a pass over the map
		// is paid once per max/2 insertions, not at each one.
		for ek, ee := range c.entries {
			if !now.Before(ee.expires) {
				delete(c.entries, ek)
			}
		}
		if len(c.entries) >= c.max {
			for ek := range c.entries {
				if len(c.entries) < c.max/2 {
					break
				}
				delete(c.entries, ek)
			}
		}
	}
	c.entries[k] = cacheEntry{key: key, expires: now.Add(c.ttl)}
	return key, nil
}
