package keys

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the package free of the core (which imports it) and of
// anything beyond the libraries the key format needs.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/lotgate/lotgate/gateway/base45": true,
		"github.com/veraison/go-cose":               true,
		"github.com/fxamacker/cbor/v2":              true,
		"golang.org/x/crypto/scrypt":                true,
	}
	for _, imp := range pkg.Imports {
		std := !strings.Contains(strings.Split(imp, "/")[0], ".")
		if !std && !allowed[imp] {
			t.Errorf("gateway/keys imports %s; allowed: the standard library and %v", imp, allowed)
		}
	}
}
