package cloudsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeBatch(t *testing.T) {
	ev := func(seq uint64) string {
		return fmt.Sprintf(`{"site":"lot-1","seq":%d,"time":"2025-06-11T08:00:00Z","type":"device.changed","data":{"i":%d},"prev_hash":"00","hash":"11"}`, seq, seq)
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    []uint64 // nil: an error
	}{
		{"one event", `{"events":[` + ev(7) + `]}`, []uint64{7}},
		{"three consecutive", `{"events":[` + ev(7) + `,` + ev(8) + `,` + ev(9) + `]}`, []uint64{7, 8, 9}},
		{"no events", `{"events":[]}`, nil},
		{"no events key", `{}`, nil},
		{"a bare event", ev(7), nil},
		{"a gap", `{"events":[` + ev(7) + `,` + ev(9) + `]}`, nil},
		{"descending", `{"events":[` + ev(8) + `,` + ev(7) + `]}`, nil},
		{"repeated", `{"events":[` + ev(7) + `,` + ev(7) + `]}`, nil},
		{"seq 0", `{"events":[` + ev(0) + `]}`, nil},
		{"not JSON", `{"events":[`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := DecodeBatch([]byte(tc.payload))
			var got []uint64
			for _, e := range evs {
				got = append(got, e.Seq)
			}
			if tc.want == nil {
				if err == nil {
					t.Errorf("DecodeBatch(%s): got %v, nil; want an error", tc.payload, got)
				}
			} else if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("DecodeBatch(%s): got %v, %v; want %v", tc.payload, got, err, tc.want)
			}
			first, last, err := DecodeBatchSeqs([]byte(tc.payload))
			if tc.want == nil {
				if err == nil {
					t.Errorf("DecodeBatchSeqs(%s): got %d..%d, nil; want an error", tc.payload, first, last)
				}
			} else if err != nil || first != tc.want[0] || last != tc.want[len(tc.want)-1] {
				t.Errorf("DecodeBatchSeqs(%s): got %d..%d, %v; want %d..%d", tc.payload, first, last, err, tc.want[0], tc.want[len(tc.want)-1])
			}
		})
	}
}

func TestCutBatch(t *testing.T) {
	enc := func(sizes ...int) [][]byte {
		var out [][]byte
		for _, n := range sizes {
			out = append(out, bytes.Repeat([]byte("x"), n))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		enc       [][]byte
		maxEvents int
		maxBytes  int
		wantK     int
	}{
		{"all fit", enc(100, 100, 100), 10, 1000, 3},
		{"event cap", enc(100, 100, 100), 2, 1000, 2},
		{"byte cap", enc(100, 100, 100), 10, batchOverhead + 100 + 1 + 100, 2},
		{"byte cap one short", enc(100, 100, 100), 10, batchOverhead + 100 + 1 + 99, 1},
		{"an event over the cap goes alone", enc(5000, 100), 10, 1000, 1},
		{"one event", enc(100), 10, 1000, 1},
	} {
		k, size := cutBatch(tc.enc, tc.maxEvents, tc.maxBytes)
		want := batchOverhead
		for i := 0; i < tc.wantK; i++ {
			want += len(tc.enc[i])
		}
		want += tc.wantK - 1
		if k != tc.wantK || size != want {
			t.Errorf("%s: cutBatch(%d events, %d, %d): got %d events, %d bytes; want %d, %d", tc.name, len(tc.enc), tc.maxEvents, tc.maxBytes, k, size, tc.wantK, want)
		}
	}
}

// The bytes the drain builds for a batch are a Batch as encoding/json
// would write it, and decode with DecodeBatch.
func TestBatchBytes(t *testing.T) {
	evs := []Event{
		{Site: "lot-1", Seq: 41, Type: "device.changed", Data: json.RawMessage(`{"a":1}`), PrevHash: "00", Hash: "11"},
		{Site: "lot-1", Seq: 42, Type: "device.changed", Data: json.RawMessage(`null`), PrevHash: "11", Hash: "22", Redacted: true, DataSHA256: "ab"},
	}
	var enc [][]byte
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	got := appendBatch(nil, enc)
	want, err := json.Marshal(Batch{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("appendBatch: got %s; want %s", got, want)
	}
	back, err := DecodeBatch(got)
	if err != nil || len(back) != 2 || back[1].Seq != 42 || !back[1].Redacted || !strings.Contains(string(back[0].Data), `"a"`) {
		t.Errorf("DecodeBatch(appendBatch): got %+v, %v", back, err)
	}
}
