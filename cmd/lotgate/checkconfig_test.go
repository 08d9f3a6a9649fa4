package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// check-config said "ok" for mode mqtt without a broker, but run refused the
// same file with exit 3 and no file:line ("cloud mode mqtt needs
// cloud.broker"), after migrating the store.
func TestCheckConfigMQTTNeedsBroker(t *testing.T) {
	cfg := exampleSite(t)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`mode: demo\n  demo: \{[^}]*\}`).ReplaceAll(text, []byte("mode: mqtt"))
	if string(edited) == string(text) {
		t.Fatal("the example site's cloud section was not found")
	}
	if err := os.WriteFile(cfg, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(string(edited[:strings.Index(string(edited), "mode: mqtt")]), "\n")
	want := regexp.MustCompile(`:` + strconv.Itoa(line) + `: cloud\.broker: is required with mode mqtt`)
	out, stderr, code := lotgate(t, "", "check-config", cfg)
	if code != ExitConfig || !want.MatchString(out) {
		t.Errorf("check-config, mode mqtt without broker: exit %d, out %q, err %q; want exit %d, %s", code, out, stderr, ExitConfig, want)
	}
	_, stderr, code = lotgate(t, "", "run", "--config", cfg, "--console=false")
	if code != ExitConfig || !want.MatchString(stderr) {
		t.Errorf("run, mode mqtt without broker: exit %d, err %q; want exit %d, %s", code, stderr, ExitConfig, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "lotgate.db")); err == nil {
		t.Errorf("run with a refused config created the store; want nothing touched")
	}
}
