package ptytest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Bytes written at one end come out at the other; after unplug the paths
// are gone; Link again at the same paths works.
func TestLink(t *testing.T) {
	socat := Socat(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for round := range 2 {
		unplug := Link(t, socat, a, b)
		fb, err := os.OpenFile(b, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatalf("round %d: open %s: %v", round, b, err)
		}
		fa, err := os.OpenFile(a, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatalf("round %d: open %s: %v", round, a, err)
		}
		want := []byte("LG1:HELLO\r\n")
		if _, err := fa.Write(want); err != nil {
			t.Fatal(err)
		}
		fb.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(fb, got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("round %d: read at b: got %q, %v; want %q", round, got, err, want)
		}
		fa.Close()
		fb.Close()
		unplug()
		unplug() // idempotent
		for _, p := range []string{a, b} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("round %d: %s exists after unplug; want it gone", round, p)
			}
		}
	}
}
