package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestOneGatewayPerStore: while a gateway runs, a second `lotgate run` on
// the same store and a command that writes it (time trust) fail at once
// and say why; a read-only report still works beside it.
func TestOneGatewayPerStore(t *testing.T) {
	cfg := exampleSite(t)
	startGateway(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	err := run(ctx, []string{"run", "--config", cfg, "--console=false"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "in use by another lotgate process") {
		t.Errorf("second run on the same store: %v (ctx %v); want a refusal naming the other process", err, ctx.Err())
	}
	_, stderrTrust, code := lotgate(t, "", "time", "trust", "--config", cfg)
	if code == 0 || !strings.Contains(stderrTrust, "in use by another lotgate process") {
		t.Errorf("time trust while the gateway runs: exit %d, %q; want a refusal", code, stderrTrust)
	}
	if out, stderrReport, code := lotgate(t, "", "report", "unpaid", "--config", cfg); code != 0 {
		t.Errorf("report unpaid beside the gateway: exit %d, %q %q; want it to work", code, out, stderrReport)
	}
}
