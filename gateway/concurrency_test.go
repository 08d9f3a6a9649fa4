package gateway_test

import (
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

// TestSingleUseKeyRace shows a fresh single-use key at both exits at the
// same instant, round after round: exactly one lane opens, the other is
// refused used_up, and the key is counted used once.
func TestSingleUseKeyRace(t *testing.T) {
	h := newHarness(t)
	const rounds = 30
	lanes := []string{"out-1", "out-2"}
	for round := range rounds {
		text, id := h.mustKey(exitKey(1))
		got, errs := h.presentAtOnce(text, lanes...)
		opened := 0
		for i, lane := range lanes {
			if errs[i] != nil {
				t.Fatalf("round %d, %s: %v", round, lane, errs[i])
			}
			switch {
			case got[i].Allowed && got[i].Reason == gateway.ReasonOK:
				opened++
				h.wantBarrier("winner", lane+"-barrier", true)
			case !got[i].Allowed && got[i].Reason == gateway.ReasonUsedUp:
				h.wantBarrier("loser", lane+"-barrier", false)
			default:
				t.Errorf("round %d, %s: got %v; want allowed, or denied used_up", round, lane, got[i])
			}
			h.wantRecorded("round", got[i], gateway.EvAccess)
		}
		if opened != 1 {
			t.Fatalf("round %d: %d lanes opened (%v, %v); want exactly 1", round, opened, got[0], got[1])
		}
		if st := h.keyState(id); st.Uses != 1 {
			t.Fatalf("round %d: key uses = %d; want 1", round, st.Uses)
		}
		// No car came: the open barrier lowers after the timeout.
		h.advance(h.site.Policy.BarrierOpenTimeout)
		for _, lane := range lanes {
			h.wantBarrier("after the timeout", lane+"-barrier", false)
		}
	}
}
