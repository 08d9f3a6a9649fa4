package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

// TestExclusive: a second exclusive Open of the same store fails at once
// with a Conflict naming the store; a non-exclusive Open (a read-only
// report) still works; after Close the store can be taken again.
func TestExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lotgate.db")
	first, err := Open(t.Context(), path, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if db, err := Open(t.Context(), path, Options{Exclusive: true}); gateway.KindOf(err) != gateway.Conflict {
		if db != nil {
			db.Close()
		}
		t.Fatalf("second exclusive Open: %v; want a Conflict", err)
	}
	reader, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("non-exclusive Open beside the gateway: %v", err)
	}
	reader.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(t.Context(), path, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive Open after Close: %v", err)
	}
	again.Close()
}
