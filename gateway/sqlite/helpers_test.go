package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// strategy is one way of committing Updates; the conformance tests run
// against each.
type strategy struct {
	name string
	opts Options
}

func strategies() []strategy {
	return []strategy{
		{"single", Options{}},
		{"group", Options{GroupCommit: true}},
	}
}

// forEachStrategy runs test once per strategy, each on a fresh database.
func forEachStrategy(t *testing.T, test func(t *testing.T, db *DB)) {
	t.Helper()
	for _, s := range strategies() {
		t.Run(s.name, func(t *testing.T) {
			test(t, mustOpen(t, s.opts))
		})
	}
}

// mustOpen opens a fresh database in a temporary directory, closed at the
// end of the test.
func mustOpen(tb testing.TB, opts Options) *DB {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "lotgate.db"), opts)
}

func mustOpenAt(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func mustUpdate(tb testing.TB, db *DB, fn func(gateway.Tx) error) {
	tb.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

func mustView(tb testing.TB, db *DB, fn func(gateway.Tx) error) {
	tb.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		tb.Fatalf("View: %v", err)
	}
}

// wantKind fails unless err has the given gateway error kind.
func wantKind(tb testing.TB, what string, err error, kind gateway.ErrorKind) {
	tb.Helper()
	if err == nil {
		tb.Errorf("%s: got nil error; want kind %s", what, kind)
		return
	}
	if got := gateway.KindOf(err); got != kind {
		tb.Errorf("%s: got kind %s (%v); want %s", what, got, err, kind)
	}
}

// at is a fixed instant in a non-UTC zone with nanoseconds, so round trips
// check both the instant and the conversion to UTC.
func at(hour, min int) time.Time {
	return time.Date(2025, 3, 30, hour, min, 7, 123456789, time.FixedZone("CEST", 2*3600))
}

var errTest = errors.New("test: fn failed")

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
