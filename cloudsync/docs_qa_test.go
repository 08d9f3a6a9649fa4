package cloudsync_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/tariff"
)

// signAt signs a message for the env's site with the given times.
func (e *env) signAt(id, typ string, iat, exp time.Time, body string) []byte {
	e.t.Helper()
	raw, err := keys.SignMessage(keys.Message{ID: id, Type: typ, Site: e.site.ID, IssuedAt: iat, Expires: exp, Body: []byte(body)}, e.kid, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// eventData reads the data of the event at seq.
func (e *env) eventData(seq uint64) map[string]any {
	e.t.Helper()
	var evs []gateway.Event
	if err := e.db.View(e.ctx, func(tx gateway.Tx) error {
		var err error
		evs, err = tx.Events(seq, 1)
		return err
	}); err != nil || len(evs) != 1 {
		e.t.Fatalf("read event %d: %v", seq, err)
	}
	var d map[string]any
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// operatorsGuideTariff is the tariff.update body of docs/operators.md,
// "Change the tariff".
func operatorsGuideTariff(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "## 7. Change the tariff")
	_, block, ok2 := strings.Cut(sec, "```json\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/operators.md: no json block in \"7. Change the tariff\"")
	}
	return block
}

// TestTariffUpdateAsDocumented applies the worked tariff.update of
// docs/operators.md, checks that asyncapi.yaml's Tariff example is the
// same tariff, and that a tariff without "format" is refused with the
// message the guide quotes.
func TestTariffUpdateAsDocumented(t *testing.T) {
	e := newEnv(t, "", nil)
	body := operatorsGuideTariff(t)

	// asyncapi.yaml's example decodes to the same tariff.
	spec, err := os.ReadFile("../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		Components struct {
			Schemas struct {
				Tariff struct {
					Examples []map[string]any `yaml:"examples"`
				} `yaml:"Tariff"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(spec, &api); err != nil || len(api.Components.Schemas.Tariff.Examples) != 1 {
		t.Fatalf("asyncapi.yaml: components.schemas.Tariff.examples: %v", err)
	}
	apiJSON, err := json.Marshal(api.Components.Schemas.Tariff.Examples[0])
	if err != nil {
		t.Fatal(err)
	}
	var guide struct{ Tariff *tariff.Tariff }
	var fromAPI tariff.Tariff
	if err := json.Unmarshal([]byte(body), &guide); err != nil {
		t.Fatalf("operators.md's tariff: %v", err)
	}
	if err := json.Unmarshal(apiJSON, &fromAPI); err != nil {
		t.Fatalf("asyncapi.yaml's tariff: %v", err)
	}
	a, _ := json.Marshal(guide.Tariff)
	b, _ := json.Marshal(&fromAPI)
	if string(a) != string(b) {
		t.Errorf("the two documented tariffs differ:\noperators.md  %s\nasyncapi.yaml %s", a, b)
	}

	// Applied as the guide says.
	now := time.Now()
	out, err := e.sync.Receive(e.ctx, e.signAt("tariff-2026-04", gateway.MsgTariff, now, time.Time{}, body), "test")
	if err != nil {
		t.Fatal(err)
	}
	if out.State != gateway.InboxApplied {
		t.Fatalf("the guide's tariff.update: got %s %s (%v); want applied", out.State, out.Reason, e.eventData(out.Seq))
	}
	if d := e.eventData(out.Seq); d["version"] != "2026-04" || d["current"] != true {
		t.Errorf("cloud.applied data: got %v; want version 2026-04, current true", d)
	}
	cur := e.gw.CurrentTariff()
	entry := time.Date(2026, 3, 10, 10, 0, 0, 0, cur.Location)
	if cur.Version != "2026-04" || cur.Location.String() != "Europe/Berlin" {
		t.Fatalf("current tariff: got %s in %s; want 2026-04 in Europe/Berlin", cur.Version, cur.Location)
	}
	if got := cur.Total(entry, entry.Add(70*time.Minute)); got != 540 {
		t.Errorf("10:00 to 11:10 under 2026-04: got %d; want 540 (3 day units of 180)", got)
	}

	// Without "format": refused, with the guide's words.
	noFormat := strings.Replace(strings.Replace(body, `"format": 1,`, "", 1), `"2026-04"`, `"2026-05"`, 1)
	if noFormat == body {
		t.Fatal("the guide's tariff has no \"format\": 1,")
	}
	out, err = e.sync.Receive(e.ctx, e.signAt("tariff-no-format", gateway.MsgTariff, now, time.Time{}, noFormat), "test")
	if err != nil {
		t.Fatal(err)
	}
	d := e.eventData(out.Seq)
	if out.State != gateway.InboxRefused || out.Reason != gateway.ReasonInvalid || d["error"] != `decode tariff "2026-05": format 0 is not 1` {
		t.Errorf("a tariff without format: got %s %s %v; want refused invalid, decode tariff \"2026-05\": format 0 is not 1", out.State, out.Reason, d)
	}
}

// TestMessageTimesAsDocumented: a payment completion is applied whatever
// its iat and exp (keys.md, "Messages applied outside their time"), with
// its iat as the payment's time when it has no paid_at (now, when the iat is
// beyond now and the clock skew), and so is trusted
// time; other types are refused outside their time.
func TestMessageTimesAsDocumented(t *testing.T) {
	e := newEnv(t, "", nil)
	now := time.Now().Truncate(time.Second)
	for _, id := range []string{"s-late", "s-future"} {
		if err := e.db.Update(e.ctx, func(tx gateway.Tx) error {
			return tx.PutSession(gateway.Session{ID: id, Credential: "ticket:T" + id, EntryAt: now.Add(-time.Hour), State: gateway.SessionOpen,
				TariffVersion: e.gw.CurrentTariff().Version})
		}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		typ       string
		iat, exp  time.Time
		body      string
		want      gateway.InboxState
		reason    gateway.Reason
		paymentAt time.Time // for an applied payment
	}{
		{"payment expired an hour ago", gateway.MsgPayment, now.Add(-2 * time.Hour), now.Add(-time.Hour),
			`{"payment_id":"p-late","ref":"s-late","amount":100,"currency":"EUR"}`, gateway.InboxApplied, gateway.ReasonOK, now.Add(-2 * time.Hour)},
		{"payment issued in an hour", gateway.MsgPayment, now.Add(time.Hour), time.Time{},
			`{"payment_id":"p-future","ref":"s-future","amount":100,"currency":"EUR"}`, gateway.InboxApplied, gateway.ReasonOK, time.Time{}},
		{"trusted time expired an hour ago", gateway.MsgTrustedTime, now.Add(-2 * time.Hour), now.Add(-time.Hour),
			`{}`, gateway.InboxApplied, gateway.ReasonOK, time.Time{}},
		{"trusted time issued in an hour", gateway.MsgTrustedTime, now.Add(time.Hour), time.Time{},
			`{"time":"` + now.Add(-time.Minute).UTC().Format(time.RFC3339) + `"}`, gateway.InboxApplied, gateway.ReasonOK, time.Time{}},
		{"revocation expired an hour ago", gateway.MsgRevocation, now.Add(-2 * time.Hour), now.Add(-time.Hour),
			`{"key_id":"k-1","reason":"lost"}`, gateway.InboxRefused, gateway.ReasonExpired, time.Time{}},
		{"revocation issued in an hour", gateway.MsgRevocation, now.Add(time.Hour), time.Time{},
			`{"key_id":"k-2","reason":"lost"}`, gateway.InboxRefused, gateway.ReasonNotYetValid, time.Time{}},
	}
	for i, tc := range tests {
		out, err := e.sync.Receive(e.ctx, e.signAt("m-"+string(rune('a'+i)), tc.typ, tc.iat, tc.exp, tc.body), "test")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out.State != tc.want || out.Reason != tc.reason {
			t.Errorf("%s: got %s %s; want %s %s", tc.name, out.State, out.Reason, tc.want, tc.reason)
			continue
		}
		if !tc.paymentAt.IsZero() && (out.Payment == nil || !out.Payment.Payment.At.Equal(tc.paymentAt)) {
			t.Errorf("%s: payment %+v; want one at %v", tc.name, out.Payment, tc.paymentAt)
		}
		if tc.name == "payment issued in an hour" {
			// The issuer's clock ran ahead: dated now, not in an hour.
			if out.Payment == nil || out.Payment.Payment.At.Before(now) || out.Payment.Payment.At.After(time.Now()) {
				t.Errorf("%s: payment %+v; want one dated now (between %v and the end of the call)", tc.name, out.Payment, now)
			}
		}
	}
}
