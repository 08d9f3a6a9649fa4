package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The dependency direction of the module (see STYLE.md, "Direction"),
// checked from the wiring root, the one package allowed to know every
// other: cmd → web, cloudsync, drivers/*, gateway/sqlite → gateway.

const module = "github.com/lotgate/lotgate"

// An importRule says what the packages it applies to must not import.
// Packages are named below the module: "drivers/gpio" is that package,
// "drivers/..." is drivers and every package under it, "..." every package
// of the module. A dependency pattern is an import path, and matches that
// package and every package under it ("periph.io" matches
// "periph.io/x/conn/v3/gpio"). Only non-test imports count.
type importRule struct {
	pkgs   string
	except []string // packages left out of pkgs
	// only, when not nil, lists the packages outside the standard library
	// that the packages may import directly; empty: the standard library
	// alone.
	only []string
	// notImport are packages they must not import directly.
	notImport []string
	// notDepend are packages they must not depend on, directly or not;
	// butMay are exceptions to it.
	notDepend, butMay []string
	why               string
}

// stdlibOnly, as an importRule's only, allows the standard library alone.
var stdlibOnly = []string{}

// coreForbidden is what the core must not depend on, even indirectly:
// transport, storage, hardware and configuration libraries, and the
// packages that adapt them to it.
var coreForbidden = []string{
	"net/http", "database/sql", "github.com/mattn/go-sqlite3",
	"github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt",
	"periph.io", "github.com/goburrow", "github.com/gorilla", "go.yaml.in/yaml",
	module + "/cloudsync", module + "/web", module + "/drivers", module + "/config",
	module + "/gateway/sqlite", module + "/cmd",
}

var importRules = []importRule{
	// The core and its pure libraries.
	{pkgs: "gateway/...", except: []string{"gateway/sqlite"}, notDepend: coreForbidden,
		why: "dependencies point inward, to gateway, never out of it"},
	{pkgs: "gateway/tariff", only: stdlibOnly, why: "the tariff engine imports only the standard library"},
	{pkgs: "gateway/keys", why: "the key format imports the libraries it needs, never the core (which imports it)",
		only: []string{module + "/gateway/base45", "github.com/veraison/go-cose", "github.com/fxamacker/cbor/v2", "golang.org/x/crypto/scrypt"}},
	{pkgs: "gateway/base45", only: stdlibOnly, why: "base45 is the standard library alone"},
	{pkgs: "gateway/sqlite", why: "the store adapts SQLite to the core and nothing else",
		notDepend: []string{module + "/cloudsync", module + "/web", module + "/drivers", module + "/config", module + "/cmd"}},

	// Adapters never import each other; they speak in gateway types.
	{pkgs: "web/...", why: "web, cloudsync and drivers never import each other",
		notDepend: []string{module + "/cloudsync", module + "/drivers", module + "/gateway/sqlite", module + "/config", module + "/cmd"}},
	{pkgs: "cloudsync/...", why: "web, cloudsync and drivers never import each other",
		notDepend: []string{module + "/web", module + "/drivers", module + "/gateway/sqlite", module + "/config", module + "/cmd"}},
	{pkgs: "drivers/...", why: "web, cloudsync and drivers never import each other, and drivers not one another",
		notDepend: []string{module + "/web", module + "/cloudsync", module + "/gateway/sqlite", module + "/config", module + "/cmd", module + "/drivers"},
		butMay:    []string{module + "/drivers/health"}},

	// Each driver: the core and its own hardware library.
	{pkgs: "drivers/gpio", why: "the GPIO driver: the core and periph.io",
		only: []string{module + "/gateway", module + "/drivers/health",
			"periph.io/x/conn/v3/gpio", "periph.io/x/conn/v3/gpio/gpioreg", "periph.io/x/conn/v3/driver/driverreg", "periph.io/x/host/v3/gpioioctl"}},
	{pkgs: "drivers/modbus", why: "the Modbus driver: the core, goburrow's client and serial port, simonvetter's server for the simulator",
		only: []string{module + "/gateway", module + "/drivers/health",
			"github.com/goburrow/modbus", "github.com/goburrow/serial", "github.com/simonvetter/modbus"}},
	{pkgs: "drivers/scanner", why: "the scanner driver: the core and goburrow's serial port",
		only: []string{module + "/gateway", "github.com/goburrow/serial"}},
	{pkgs: "drivers/sim", why: "the simulator speaks only gateway types",
		only: []string{module + "/gateway"}},
	{pkgs: "drivers/health", why: "the health tracking drivers share: the core alone",
		only: []string{module + "/gateway"}},
	{pkgs: "drivers/ptytest", only: stdlibOnly, why: "the serial-line test kit is the standard library alone"},
	{pkgs: "drivers/conformance", why: "the conformance suite is a test kit on the core alone",
		only: []string{module + "/gateway"}},

	// One owner per outside library.
	{pkgs: "...", except: []string{"drivers/gpio"}, notImport: []string{"periph.io"},
		why: "only drivers/gpio imports periph.io"},
	{pkgs: "...", except: []string{"drivers/modbus"}, notImport: []string{"github.com/goburrow/modbus"},
		why: "only drivers/modbus imports goburrow/modbus (one owner per Modbus bus)"},
	{pkgs: "...", except: []string{"drivers/modbus", "drivers/scanner"}, notImport: []string{"github.com/goburrow/serial"},
		why: "only the Modbus and scanner drivers open serial ports"},
	{pkgs: "...", except: []string{"cloudsync/..."}, notImport: []string{"github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt"},
		why: "only cloudsync imports paho and mochi"},
	{pkgs: "...", except: []string{"gateway/sqlite"}, notImport: []string{"github.com/mattn/go-sqlite3"},
		why: "only gateway/sqlite imports go-sqlite3"},
	{pkgs: "...", except: []string{"web/..."}, notImport: []string{"github.com/gorilla/websocket"},
		why: "only web imports gorilla/websocket (paho uses it for ws:// brokers, inside cloudsync's dependency)"},
}

// listedPackage is what go list says of a package of the module.
type listedPackage struct {
	ImportPath    string
	Imports, Deps []string
	Error         *struct{ Err string }
}

func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, r := range importRules {
		matched := 0
		for _, p := range pkgs {
			if !r.appliesTo(p.ImportPath) {
				continue
			}
			matched++
			for _, v := range r.violations(p) {
				t.Errorf("%s %s; %s", strings.TrimPrefix(p.ImportPath, module+"/"), v, r.why)
			}
		}
		if matched == 0 && !strings.HasSuffix(r.pkgs, "...") {
			t.Errorf("the rule for %s matches no package; want the package it names", r.pkgs)
		}
	}
}

// TestImportRuleChecks feeds the rules made-up packages, so that a rule
// that could never fail is caught.
func TestImportRuleChecks(t *testing.T) {
	tests := []struct {
		pkg  listedPackage
		want []string // violations, from any rule
	}{
		{listedPackage{ImportPath: module + "/gateway", Imports: []string{"fmt"}, Deps: []string{"fmt", "net/http"}},
			[]string{"depends on net/http"}},
		{listedPackage{ImportPath: module + "/gateway/tariff", Imports: []string{"github.com/x/y"}, Deps: []string{"github.com/x/y"}},
			[]string{"imports github.com/x/y"}},
		{listedPackage{ImportPath: module + "/drivers/sim", Imports: []string{module + "/drivers/modbus"}, Deps: []string{module + "/drivers/modbus"}},
			[]string{"depends on " + module + "/drivers/modbus", "imports " + module + "/drivers/modbus"}},
		{listedPackage{ImportPath: module + "/drivers/gpio", Imports: []string{module + "/drivers/health"}, Deps: []string{module + "/drivers/health"}},
			nil},
		{listedPackage{ImportPath: module + "/drivers/scanner", Imports: []string{module + "/drivers/health"}, Deps: []string{module + "/drivers/health"}},
			[]string{"imports " + module + "/drivers/health"}},
		{listedPackage{ImportPath: module + "/config", Imports: []string{"periph.io/x/conn/v3/gpio"}, Deps: []string{"periph.io/x/conn/v3/gpio"}},
			[]string{"imports periph.io/x/conn/v3/gpio"}},
		{listedPackage{ImportPath: module + "/cloudsync/demo", Imports: []string{"github.com/mochi-mqtt/server/v2"}, Deps: []string{"github.com/mochi-mqtt/server/v2"}},
			nil},
		{listedPackage{ImportPath: module + "/web", Imports: []string{"github.com/mochi-mqtt/server/v2"}, Deps: []string{"github.com/mochi-mqtt/server/v2"}},
			[]string{"imports github.com/mochi-mqtt/server/v2"}},
		{listedPackage{ImportPath: module + "/cmd/lotgate", Imports: []string{"github.com/mattn/go-sqlite3"}, Deps: []string{"github.com/mattn/go-sqlite3"}},
			[]string{"imports github.com/mattn/go-sqlite3"}},
		{listedPackage{ImportPath: module + "/gateway/sqlite", Imports: []string{"github.com/mattn/go-sqlite3"}, Deps: []string{"github.com/mattn/go-sqlite3"}},
			nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range importRules {
			if r.appliesTo(tt.pkg.ImportPath) {
				got = append(got, r.violations(tt.pkg)...)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s importing %v: got %q; want %q", tt.pkg.ImportPath, tt.pkg.Imports, got, tt.want)
		}
	}
}

// listModule lists the module's packages with their imports and
// dependencies.
func listModule(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s; its imports cannot be checked", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list: no packages")
	}
	return pkgs
}

func (r importRule) appliesTo(path string) bool {
	return inPackages(path, r.pkgs) && !slices.ContainsFunc(r.except, func(e string) bool { return inPackages(path, e) })
}

// inPackages reports whether path, an import path of the module, is one of
// the packages pattern names ("drivers/gpio", "drivers/...", "...").
func inPackages(path, pattern string) bool {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return false
	}
	if pattern == "..." {
		return true
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return matches(rel, tree)
	}
	return rel == pattern
}

// matches reports whether path is pattern or a package under it.
func matches(path, pattern string) bool {
	return path == pattern || strings.HasPrefix(path, pattern+"/")
}

func matchesAny(path string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(path, p) })
}

// isStd reports whether path is in the standard library: its first element
// has no dot.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// violations lists how p breaks the rule ("imports X", "depends on Y").
func (r importRule) violations(p listedPackage) []string {
	var out []string
	for _, imp := range p.Imports {
		switch {
		case r.only != nil && !isStd(imp) && !slices.Contains(r.only, imp),
			matchesAny(imp, r.notImport):
			out = append(out, "imports "+imp)
		}
	}
	for _, dep := range p.Deps {
		if matchesAny(dep, r.notDepend) && !matchesAny(dep, r.butMay) {
			out = append(out, "depends on "+dep)
		}
	}
	return out
}
