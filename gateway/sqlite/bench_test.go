package sqlite

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// benchParallelism multiplies GOMAXPROCS for the parallel benchmarks: a
// site has many more concurrent writers (lanes, scanners, MQTT handlers)
// than a Pi has cores.
const benchParallelism = 8

var benchData = json.RawMessage(`{"key":"k-0001","lane":"exit-1","decision":"granted","reason":"ok"}`)

func appendOne(db *DB) error {
	e := gateway.Event{Time: time.Unix(1_700_000_000, 0), Type: gateway.EvAccess, Data: benchData}
	return db.Update(context.Background(), func(tx gateway.Tx) error { return tx.AppendEvent(&e) })
}

func benchUpdateSequential(b *testing.B, opts Options) {
	db := mustOpen(b, opts)
	b.ReportAllocs()
	for b.Loop() {
		if err := appendOne(db); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUpdateParallel(b *testing.B, opts Options) {
	db := mustOpen(b, opts)
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := appendOne(db); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	st := db.Stats()
	if st.Commits > 0 {
		b.ReportMetric(float64(st.Updates)/float64(st.Commits), "updates/commit")
	}
}

// BenchmarkUpdateFull: one event append per Update, sequential,
// synchronous=FULL (an fsync per Update).
func BenchmarkUpdateFull(b *testing.B) { benchUpdateSequential(b, Options{Sync: SyncFull}) }

// BenchmarkUpdateNormal: as UpdateFull with synchronous=NORMAL (no fsync
// on commit; not durable across a power cut), for comparison.
func BenchmarkUpdateNormal(b *testing.B) { benchUpdateSequential(b, Options{Sync: SyncNormal}) }

// BenchmarkGroupCommitSequential: group commit with one writer at a time
// (batches of one): the overhead of the writer goroutine and savepoints.
func BenchmarkGroupCommitSequential(b *testing.B) {
	benchUpdateSequential(b, Options{GroupCommit: true})
}

// BenchmarkFullParallel: concurrent Updates, one IMMEDIATE transaction and
// fsync each.
func BenchmarkFullParallel(b *testing.B) { benchUpdateParallel(b, Options{Sync: SyncFull}) }

// BenchmarkGroupCommitParallel: concurrent Updates with group commit, FULL.
func BenchmarkGroupCommitParallel(b *testing.B) {
	benchUpdateParallel(b, Options{Sync: SyncFull, GroupCommit: true})
}

// BenchmarkView: a KeyState read in a View.
func BenchmarkView(b *testing.B) {
	db := mustOpen(b, Options{})
	mustUpdate(b, db, func(tx gateway.Tx) error {
		return tx.PutKeyState(gateway.KeyState{KeyID: "k-0001", Uses: 1, LastUsed: time.Unix(1_700_000_000, 0)})
	})
	b.ReportAllocs()
	for b.Loop() {
		err := db.View(context.Background(), func(tx gateway.Tx) error {
			_, err := tx.KeyState("k-0001")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyStatus: the same key's state and revocation through
// KeyStatus (the key cache: one generation SELECT, then memory). Compare
// with BenchmarkView, which reads only the state.
func BenchmarkKeyStatus(b *testing.B) {
	db := mustOpen(b, Options{})
	mustUpdate(b, db, func(tx gateway.Tx) error {
		return tx.PutKeyState(gateway.KeyState{KeyID: "k-0001", Uses: 1, LastUsed: time.Unix(1_700_000_000, 0)})
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := db.KeyStatus(context.Background(), "k-0001"); err != nil {
			b.Fatal(err)
		}
	}
	if s := db.KeyCacheStats(); s.Misses != 0 {
		b.Fatalf("key cache: %+v; want every read from memory", s)
	}
}

// BenchmarkViewParallel: concurrent KeyState reads on the read pool.
func BenchmarkViewParallel(b *testing.B) {
	db := mustOpen(b, Options{})
	mustUpdate(b, db, func(tx gateway.Tx) error {
		return tx.PutKeyState(gateway.KeyState{KeyID: "k-0001", Uses: 1})
	})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := db.View(context.Background(), func(tx gateway.Tx) error {
				_, err := tx.KeyState("k-0001")
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
