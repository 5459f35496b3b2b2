package storage_test

import (
	"testing"

	"github.com/twofold-idp/twofold/storage/storagetest"
)

func TestConformance(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) { storagetest.Run(t, newStore) })
	}
}
