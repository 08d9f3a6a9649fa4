package tariff

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJSONRoundTrip(t *testing.T) {
	tr := exampleTariff(t)
	tr.CapDay = 1800
	tr.Bands = append(tr.Bands[:1:1], Band{Name: "evening", From: 20 * 60, To: 24 * 60, UnitMinutes: 45, UnitPrice: 120, Cap: 300},
		Band{Name: "night", From: 0, To: 8 * 60, UnitMinutes: 60, UnitPrice: 90, Cap: 250})
	if errs := tr.Validate(); errs != nil {
		t.Fatalf("tariff invalid: %v", errs)
	}
	doc, err := json.Marshal(tr)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	// The value (not only the pointer) must encode the same way.
	if doc2, err := json.Marshal(*tr); err != nil || string(doc2) != string(doc) {
		t.Errorf("marshal value = %s, %v; want %s", doc2, err, doc)
	}
	for _, want := range []string{`"time_zone":"Europe/Berlin"`, `"to":"24:00"`, `"from":"20:00"`, `"format":1`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("encoded %s; want it to contain %s", doc, want)
		}
	}
	var got Tariff
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", doc, err)
	}
	if got.Location == nil || got.Location.String() != "Europe/Berlin" {
		t.Fatalf("decoded zone %v; want Europe/Berlin", got.Location)
	}
	// The zone must behave as Berlin's, DST included.
	summer := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).In(got.Location)
	if _, off := summer.Zone(); off != 2*3600 {
		t.Errorf("decoded zone offset in July = %d s; want 7200", off)
	}
	got.Location, tr.Location = nil, nil
	if !reflect.DeepEqual(got, *tr) {
		t.Errorf("round trip = %+v; want %+v", got, *tr)
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	good := `{"format":1,"version":"v1","currency":"EUR","time_zone":"Europe/Berlin","free_minutes":15,` +
		`"exit_grace_minutes":15,"lost_ticket_fee":2500,"cap_24h":2000,"cap_day":0,` +
		`"bands":[{"name":"all","from":"00:00","to":"24:00","unit_minutes":60,"unit_price":100,"cap":0}]}`
	var tr Tariff
	if err := json.Unmarshal([]byte(good), &tr); err != nil {
		t.Fatalf("unmarshal good document: %v", err)
	}
	tests := []struct {
		name, old, new, wantErr string
	}{
		{"unknown field", `"cap_day":0`, `"cap_day":0,"surcharge":5`, "unknown field"},
		{"unknown format", `"format":1`, `"format":2`, "format 2 is not 1"},
		{"missing format", `"format":1,`, ``, "format 0 is not 1"},
		{"unknown zone", `Europe/Berlin`, `Europe/Atlantis`, "time zone"},
		{"local zone", `Europe/Berlin`, `Local`, `"Local" is not an IANA name`},
		{"empty zone", `"Europe/Berlin"`, `""`, `"" is not an IANA name`},
		{"bad clock", `"to":"24:00"`, `"to":"24:30"`, "bands[0].to"},
		{"trailing data", `"cap":0}]}`, `"cap":0}]} {}`, "after the JSON object"},
	}
	for _, tt := range tests {
		doc := strings.Replace(good, tt.old, tt.new, 1)
		if doc == good {
			t.Fatalf("%s: test edit %q not applied", tt.name, tt.old)
		}
		var tr Tariff
		err := tr.UnmarshalJSON([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: UnmarshalJSON = %v; want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Tariff)
	}{
		{"nil zone", func(t *Tariff) { t.Location = nil }},
		{"local zone", func(t *Tariff) { t.Location = time.Local }},
		{"from out of range", func(t *Tariff) { t.Bands[0].From = -5 }},
		{"to out of range", func(t *Tariff) { t.Bands[0].To = 1441 }},
	}
	for _, tt := range tests {
		tr := exampleTariff(t)
		tt.change(tr)
		if doc, err := json.Marshal(tr); err == nil {
			t.Errorf("%s: Marshal = %s; want an error", tt.name, doc)
		}
	}
}
