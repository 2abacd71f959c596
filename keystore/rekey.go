package keystore

import (
	"context"
	"errors"
	"fmt"
)

// Rekey re-seals every key in store, from oldKEK to newKEK, in one
// Store.UpdateKeys, and returns how many it re-sealed. A key that does not
// open under oldKEK fails the whole rekey, naming its kid, with nothing
// written: a store is never left half under one KEK and half under another.
//
// Instances still running with oldKEK keep the keys they loaded but can no
// longer refresh or rotate (they refuse to add a key sealed under a KEK the
// store no longer uses), so restart them with newKEK promptly: until then
// they do not publish keys the others add.
func Rekey(ctx context.Context, store Store, oldKEK, newKEK KEK) (int, error) {
	if store == nil {
		return 0, errors.New("rekey signing keys: no store")
	}
	if err := checkKEK(oldKEK); err != nil {
		return 0, fmt.Errorf("rekey signing keys: old %w", err)
	}
	if err := checkKEK(newKEK); err != nil {
		return 0, fmt.Errorf("rekey signing keys: new %w", err)
	}
	var n int
	err := store.UpdateKeys(ctx, func(keys []StoredKey) ([]StoredKey, error) {
		for i := range keys {
			k := &keys[i]
			der, err := oldKEK.Open(k.ID, k.PrivateSealed)
			if err != nil {
				return nil, fmt.Errorf("open signing key %s with the old key-encryption key: %w", k.ID, err)
			}
			sealed, err := newKEK.Seal(k.ID, der)
			clear(der)
			if err != nil {
				return nil, fmt.Errorf("seal signing key %s: %w", k.ID, err)
			}
			k.PrivateSealed = sealed
		}
		n = len(keys)
		return keys, nil
	})
	if err != nil {
		return 0, fmt.Errorf("rekey signing keys: %w", err)
	}
	return n, nil
}
