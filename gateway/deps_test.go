package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImports keeps the core free of transport, storage and hardware
// packages: dependencies point inward, to gateway, never out of it.
func TestCoreImports(t *testing.T) {
	forbidden := []string{
		"net/http", "database/sql", "github.com/mattn/go-sqlite3",
		"github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt",
		"periph.io/", "github.com/goburrow/", "github.com/gorilla/",
		"github.com/lotgate/lotgate/cloudsync", "github.com/lotgate/lotgate/web",
		"github.com/lotgate/lotgate/drivers", "github.com/lotgate/lotgate/config",
		"github.com/lotgate/lotgate/gateway/sqlite", "go.yaml.in/yaml",
	}
	for _, pkg := range []string{".", "./tariff", "./keys", "./base45"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f) {
					t.Errorf("package %s depends on %s; the core must not import %s", pkg, dep, f)
				}
			}
		}
	}
}
