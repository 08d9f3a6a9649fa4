package gateway_test

import (
	"slices"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/tariff"
)

// doubled is the site's tariff at twice the price, under another version.
func doubled(t *tariff.Tariff, version string) *tariff.Tariff {
	d := *t
	d.Version = version
	d.Bands = slices.Clone(t.Bands)
	for i := range d.Bands {
		d.Bands[i].UnitPrice *= 2
	}
	return &d
}

// reopen opens a second gateway on the harness's store, as a restart
// would, with the site's tariff replaced by cfg.
func (h *harness) reopen(cfg *tariff.Tariff) *gateway.Gateway {
	h.t.Helper()
	site := *h.site
	site.Tariff = cfg
	g, err := gateway.New(gateway.Options{Site: &site, Store: h.db, Clock: h.clock})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := g.Open(h.ctx); err != nil {
		h.t.Fatalf("reopen: %v", err)
	}
	return g
}

func TestSetTariff(t *testing.T) {
	h := newHarness(t)
	orig := h.site.Tariff
	before := h.ticket()
	if err := h.gw.SetTariff(h.ctx, doubled(orig, "v-double")); err != nil {
		t.Fatalf("SetTariff: %v", err)
	}
	if got := h.gw.CurrentTariff().Version; got != "v-double" {
		t.Errorf("CurrentTariff: got %s; want v-double", got)
	}
	after := h.ticket()
	h.clock.Advance(2 * time.Hour)
	for _, tc := range []struct {
		name, ticket, version string
		due                   int64
	}{
		// Two hours in the day band: four units of 150, or of 300.
		{"a session open before keeps its version", before, orig.Version, 600},
		{"a new session starts under the new one", after, "v-double", 1200},
	} {
		v := h.session(tc.ticket)
		if v.Session.TariffVersion != tc.version || v.Due.Amount != tc.due {
			t.Errorf("%s: got version %s, due %d; want %s, %d", tc.name, v.Session.TariffVersion, v.Due.Amount, tc.version, tc.due)
		}
	}
	evs := h.eventsOf(gateway.EvTariffCurrent, 0)
	if len(evs) != 1 || eventData(t, evs[0])["version"] != "v-double" || eventData(t, evs[0])["previous"] != orig.Version {
		t.Errorf("tariff.current events: got %v; want one for v-double after %s", evs, orig.Version)
	}

	bad := doubled(orig, "v-bad")
	bad.Bands = bad.Bands[:1] // no longer covers the day
	other := doubled(orig, "v-double")
	other.FreeMinutes++
	for _, tc := range []struct {
		name string
		t    *tariff.Tariff
		kind gateway.ErrorKind
	}{
		{"nil", nil, gateway.Invalid},
		{"no version", doubled(orig, ""), gateway.Invalid},
		{"bands with a gap", bad, gateway.Invalid},
		{"another content under a stored version", other, gateway.Conflict},
	} {
		if err := h.gw.SetTariff(h.ctx, tc.t); gateway.KindOf(err) != tc.kind {
			t.Errorf("SetTariff(%s): got %v; want kind %s", tc.name, err, tc.kind)
		}
	}
	if got := h.gw.CurrentTariff().Version; got != "v-double" {
		t.Errorf("CurrentTariff after the refusals: got %s; want v-double", got)
	}
}

// TestCurrentTariffAtOpen checks the rule at start: a config tariff seen
// before leaves the tariff the cloud set in force; a new one wins.
func TestCurrentTariffAtOpen(t *testing.T) {
	h := newHarness(t)
	orig := h.site.Tariff
	if err := h.gw.SetTariff(h.ctx, doubled(orig, "from-cloud")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  *tariff.Tariff
		want string
	}{
		{"the same config: the cloud's tariff stays", orig, "from-cloud"},
		{"a config naming the cloud's version: it stays", doubled(orig, "from-cloud"), "from-cloud"},
		{"a freshly deployed config wins", doubled(orig, "deployed-3"), "deployed-3"},
		{"then a restart with it keeps it", doubled(orig, "deployed-3"), "deployed-3"},
		{"an old config seen before leaves the current one", orig, "deployed-3"},
	} {
		g := h.reopen(tc.cfg)
		if got := g.CurrentTariff().Version; got != tc.want {
			t.Errorf("%s: CurrentTariff after Open: got %s; want %s", tc.name, got, tc.want)
		}
		started := h.eventsOf(gateway.EvGatewayStarted, 0)
		if got := eventData(t, started[len(started)-1])["tariff_version"]; got != tc.want {
			t.Errorf("%s: gateway.started says tariff %v; want %s", tc.name, got, tc.want)
		}
	}
}

func TestTariffUpdateFromCloud(t *testing.T) {
	h := newSyncHarness(t)
	orig := h.site.Tariff
	before := h.ticket()
	out := h.receive(h.msg(gateway.MsgTariff, 0, map[string]any{"tariff": doubled(orig, "cloud-7")}))
	wantOutcome(t, "tariff update", out, gateway.InboxApplied, gateway.ReasonOK)
	if got := h.gw.CurrentTariff().Version; got != "cloud-7" {
		t.Errorf("CurrentTariff: got %s; want cloud-7", got)
	}
	after := h.ticket()
	if v := h.session(before); v.Session.TariffVersion != orig.Version {
		t.Errorf("open session: got version %s; want %s (it keeps its own)", v.Session.TariffVersion, orig.Version)
	}
	if v := h.session(after); v.Session.TariffVersion != "cloud-7" {
		t.Errorf("new session: got version %s; want cloud-7", v.Session.TariffVersion)
	}
	// It survives a restart with the same config.
	if got := h.reopen(orig).CurrentTariff().Version; got != "cloud-7" {
		t.Errorf("after a restart: got %s; want cloud-7", got)
	}

	bad := doubled(orig, "cloud-8")
	bad.Currency = "euro"
	other := doubled(orig, "cloud-7")
	other.LostTicketFee++
	for _, tc := range []struct {
		name   string
		body   any
		reason gateway.Reason
	}{
		{"invalid tariff", map[string]any{"tariff": bad}, gateway.ReasonInvalid},
		{"not a tariff", map[string]any{"tariff": "cheap"}, gateway.ReasonInvalid},
		{"another content under a stored version", map[string]any{"tariff": other}, gateway.ReasonConflict},
	} {
		wantOutcome(t, tc.name, h.receive(h.msg(gateway.MsgTariff, 0, tc.body)), gateway.InboxRefused, tc.reason)
	}
	if got := h.gw.CurrentTariff().Version; got != "cloud-7" {
		t.Errorf("CurrentTariff after the refusals: got %s; want cloud-7", got)
	}
}
