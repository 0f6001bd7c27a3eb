package memory_test

import (
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func TestBindingStoreContract(t *testing.T) {
	sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore {
		return memory.NewBindingStore(memory.BindingStoreOptions{})
	})
}
