// Package ptytest gives driver tests a serial line without hardware: two
// linked pseudo-terminals made by socat, standing in for an RS-485 adapter
// or a serial QR scanner and the device at its far end. Stopping socat
// unplugs both ends; linking again at the same paths plugs them back, as a
// USB adapter reappears at its by-id path.
//
// It is for tests only. It imports the standard library and testing,
// nothing of lotgate.
package ptytest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Socat returns the path of socat. When socat is not installed it skips
// the test, saying why, or fails it if LOTGATE_REQUIRE_SOCAT=1 (CI
// installs socat and sets it, so that no serial test is skipped there).
func Socat(tb testing.TB) string {
	tb.Helper()
	socat, err := exec.LookPath("socat")
	if err != nil {
		if os.Getenv("LOTGATE_REQUIRE_SOCAT") == "1" {
			tb.Fatalf("socat is required (LOTGATE_REQUIRE_SOCAT=1) but not installed: %v", err)
		}
		tb.Skipf("socat is not installed: %s needs it for a pseudo-terminal pair (apt-get install socat)", tb.Name())
	}
	return socat
}

// Link runs socat linking two new pseudo-terminals at paths a and b and
// waits (on socat's own message, not on a timer) until both exist. The
// returned unplug stops socat; it is idempotent and also runs at the end
// of the test.
func Link(tb testing.TB, socat, a, b string) (unplug func()) {
	tb.Helper()
	cmd := exec.Command(socat, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start socat: %v", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "starting data transfer loop") {
				ready <- nil
				for sc.Scan() { // drain, so socat never blocks on its stderr
				}
				return
			}
		}
		ready <- fmt.Errorf("socat exited before it was ready:\n%s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			tb.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		tb.Fatal("socat not ready after 10s")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	tb.Cleanup(stop)
	return stop
}
