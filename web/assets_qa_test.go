package web

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAssetDirectoriesAreNotListed: /assets/ serves its files and never a
// directory listing; a directory and a missing file answer the API's JSON
// 404.
func TestAssetDirectoriesAreNotListed(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		path string
		want int
	}{
		{"/assets/style.css", 200},
		{"/assets/", 404},
		{"/assets/.", 404},
		{"/assets//", 404},
		{"/assets/./", 404},
		{"/assets/nope.css", 404},
		{"/assets/nope/", 404},
	}
	for _, tc := range tests {
		resp, body := h.do("GET", tc.path, "", nil)
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: got %d; want %d\n%s", tc.path, resp.StatusCode, tc.want, body)
			continue
		}
		if strings.Contains(body, "style.css") && tc.want == 404 {
			t.Errorf("GET %s: the answer names the files: %q", tc.path, body)
		}
		if tc.want != 404 {
			continue
		}
		var e apiError
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != codeNotFound {
			t.Errorf("GET %s: got %q (%v); want a JSON error %q", tc.path, body, err, codeNotFound)
		}
	}
}
