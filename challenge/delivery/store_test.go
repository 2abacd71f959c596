package delivery_test

import (
	"testing"

	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/challenge/delivery/deliverytest"
	"github.com/authd/authd/internal/testenv"
)

func TestMemoryStore(t *testing.T) {
	deliverytest.Run(t, func(*testing.T) delivery.Store { return delivery.NewMemoryStore() })
}

func TestPostgresStore(t *testing.T) {
	deliverytest.Run(t, func(t *testing.T) delivery.Store { return delivery.NewPostgresStore(testenv.Postgres(t)) })
}

// stores are the Store implementations the Queue and Worker tests run on.
var stores = []struct {
	name string
	new  func(t *testing.T) delivery.Store
}{
	{"memory", func(*testing.T) delivery.Store { return delivery.NewMemoryStore() }},
	{"postgres", func(t *testing.T) delivery.Store { return delivery.NewPostgresStore(testenv.Postgres(t)) }},
}
