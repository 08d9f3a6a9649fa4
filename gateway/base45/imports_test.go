package base45

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the package on the standard library alone.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.Split(imp, "/")[0], ".") {
			t.Errorf("gateway/base45 imports %s; want the standard library only", imp)
		}
	}
}
