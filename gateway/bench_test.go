package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// The decision benchmarks run on the example site with the real SQLite
// store (synchronous=FULL, in t.TempDir) and the simulated devices.
//
//	go test -run x -bench . -benchmem ./gateway/
//
// Each reports, besides ns/op, the median and 99th percentile of the
// per-call durations as p50-ns and p99-ns.

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// reportPercentiles reports p50-ns and p99-ns of the durations.
func reportPercentiles(b *testing.B, durs []time.Duration) {
	slices.Sort(durs)
	b.ReportMetric(float64(percentile(durs, 50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(durs, 99).Nanoseconds()), "p99-ns")
}

// BenchmarkKeyDecisionCheck is gw.CheckKey on a valid multi-use key:
// parse, signature verification, the site checks and the store's answer
// on revocation and key state (sqlite.DB.KeyStatus: its key cache), with
// no durable write. Its p50 against BenchmarkBaselineEd25519Verify's is the
// figure docs/PERFORMANCE.md holds to ≤ 1.25×.
func BenchmarkKeyDecisionCheck(b *testing.B) {
	benchDecision(b, "CheckKey", (*gateway.Gateway).CheckKey)
}

// BenchmarkKeyDecisionRecorded is gw.Authorize of a multi-use key at
// locker compartment A-03: everything CheckKey does, plus the durable
// write of the decision (a use counted, the access event) and the unlock,
// whose actuation event is a second durable write.
func BenchmarkKeyDecisionRecorded(b *testing.B) {
	benchDecision(b, "Authorize", (*gateway.Gateway).Authorize)
}

// benchDecision times decide (named name) on a valid multi-use key at
// locker compartment A-03 and reports its percentiles.
func benchDecision(b *testing.B, name string, decide func(*gateway.Gateway, context.Context, gateway.AccessRequest) (gateway.Decision, error)) {
	h := newHarness(b)
	text, _ := h.mustKey(lockerKey())
	req := atLocker(text, "A-03")
	var durs []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		d, err := decide(h.gw, h.ctx, req)
		durs = append(durs, time.Since(t0))
		if err != nil || !d.Allowed {
			b.Fatalf("%s: %v, %v", name, d, err)
		}
	}
	reportPercentiles(b, durs)
}

// BenchmarkBaselineEd25519Verify is the bare signature check of a message
// the size of a key's COSE bytes: the floor under a key decision.
func BenchmarkBaselineEd25519Verify(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	kid := keys.DeriveKID(pub)
	cose, err := keys.Sign(keys.Claims{KeyID: "k-1", Site: "demo-lot", Resources: []string{"locker:A-03"}, Actions: []string{keys.ActionOpen}}, kid, priv)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, len(cose))
	if _, err := rand.Read(msg); err != nil {
		b.Fatal(err)
	}
	sig := ed25519.Sign(priv, msg)
	var durs []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		ok := ed25519.Verify(pub, msg, sig)
		durs = append(durs, time.Since(t0))
		if !ok {
			b.Fatal("signature does not verify")
		}
	}
	reportPercentiles(b, durs)
}

// TestDecisionLatency runs both decision paths a fixed number of times
// and logs their p50 and p99. It asserts the decisions, never the times
// (the machine's speed is not the code's fault); run with -v to read them.
func TestDecisionLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency report skipped in -short mode")
	}
	h := newHarness(t)
	text, _ := h.mustKey(lockerKey())
	req := atLocker(text, "A-03")
	for _, p := range []struct {
		name string
		n    int
		run  func() (gateway.Decision, error)
	}{
		{"check", 200, func() (gateway.Decision, error) { return h.gw.CheckKey(h.ctx, req) }},
		{"recorded", 50, func() (gateway.Decision, error) { return h.gw.Authorize(h.ctx, req) }},
	} {
		durs := make([]time.Duration, 0, p.n)
		for range p.n {
			t0 := time.Now()
			d, err := p.run()
			durs = append(durs, time.Since(t0))
			if err != nil || !d.Allowed {
				t.Fatalf("%s: %v, %v; want allowed", p.name, d, err)
			}
		}
		slices.Sort(durs)
		t.Logf("%-8s n=%d p50=%v p99=%v", p.name, p.n, percentile(durs, 50), percentile(durs, 99))
	}
}
