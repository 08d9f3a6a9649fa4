package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// fixedClock is a clock stopped at one instant (`keys check --at`).
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// funcClock adapts env.now.
type funcClock func() time.Time

func (f funcClock) Now() time.Time { return f() }

// openStore opens the site's store for a tool. If the database does not
// exist and mayCreate is false, it opens an empty throwaway store instead,
// so that a check has no side effects.
func openStore(ctx context.Context, f *config.File, mayCreate bool) (*sqlite.DB, func(), error) {
	path := f.Store.Path
	removeTemp := func() {}
	if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) && !mayCreate {
		dir, err := os.MkdirTemp("", "lotgate-check-")
		if err != nil {
			return nil, nil, fmt.Errorf("make temporary store: %w", err)
		}
		path = filepath.Join(dir, "empty.db")
		removeTemp = func() { os.RemoveAll(dir) }
	}
	// A command that writes (mayCreate) takes the store as the gateway
	// does, so it fails at once while the gateway runs.
	db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: discardLogger(), Exclusive: mayCreate})
	if err != nil {
		removeTemp()
		return nil, nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, func() { db.Close(); removeTemp() }, nil
}

// storeGateway opens f's store (see openStore) and builds a gateway on it
// for a one-shot command: no drivers, no cloud, Open not called. done
// closes the store.
func storeGateway(ctx context.Context, f *config.File, mayCreate bool, clock gateway.Clock) (gw *gateway.Gateway, done func(), err error) {
	db, done, err := openStore(ctx, f, mayCreate)
	if err != nil {
		return nil, nil, err
	}
	if gw, err = gateway.New(gateway.Options{Site: f.Site, Store: db, Clock: clock}); err != nil {
		done()
		return nil, nil, err
	}
	return gw, done, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// cmdKeyCheck verifies a key offline against the site and its stored state
// (revocations, uses, anti-passback) without changing anything.
func cmdKeyCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys check", "keys check --config FILE --resource R --action A [--at T] [--remote --lat X --lon Y --pin P] TEXT")
	cfg := fs.String("config", "", "site file")
	resource := fs.String("resource", "", "resource, e.g. gate:out-1 or locker:A-03")
	action := fs.String("action", "", "enter, exit, open, unlock or lock")
	at := fs.String("at", "", "decide as if at this time (default now)")
	remote := fs.Bool("remote", false, "decide as a remote request (presence policy applies)")
	lat := fs.Float64("lat", 0, "phone latitude for --remote")
	lon := fs.Float64("lon", 0, "phone longitude for --remote")
	pin := fs.String("pin", "", "PIN for --remote")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *resource == "" || *action == "" || fs.NArg() != 1 {
		fs.Usage()
		return usageErr("keys check needs --config, --resource, --action and the key text")
	}
	pos, err := remotePosition(fs, *remote, *lat, *lon)
	if err != nil {
		return err
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	var clock gateway.Clock = funcClock(e.now)
	if *at != "" {
		t, err := parseTime(*at, f.Site.Location)
		if err != nil {
			return usageErr("--at: %v", err)
		}
		clock = fixedClock{t}
	}
	gw, done, err := storeGateway(ctx, f, false, clock)
	if err != nil {
		return err
	}
	defer done()
	req := gateway.AccessRequest{Text: fs.Arg(0), Resource: *resource, Action: gateway.Action(*action), Channel: gateway.ChannelScanner}
	if *remote {
		req.Channel = gateway.ChannelRemote
		req.Position = pos
		req.PIN = *pin
	}
	d, err := gw.CheckKey(ctx, req)
	if err != nil {
		return err
	}
	if d.Allowed {
		fmt.Fprintf(e.stdout, "allowed: key %s may %s %s\n", d.KeyID, *action, *resource)
		return nil
	}
	fmt.Fprintf(e.stdout, "denied: %s: %s\n", d.Reason, d.Message)
	return &exitError{code: ExitDenied}
}

// cmdAudit checks the event log's hash chain.
func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageErr("audit needs a subcommand: verify")
	}
	fs := newFlags(e, "audit verify", "audit verify --config FILE | --db FILE")
	cfg := fs.String("config", "", "site file (its store is checked)")
	dbPath := fs.String("db", "", "database file (instead of --config)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	path := *dbPath
	if path == "" {
		f, err := loadConfig(*cfg)
		if err != nil {
			return err
		}
		path = f.Store.Path
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: discardLogger()})
	if err != nil {
		return fmt.Errorf("audit verify: open %s: %w", path, err)
	}
	defer db.Close()
	line, bad, err := auditLine(ctx, db)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintln(e.stdout, line)
	if bad {
		return &exitError{code: ExitAudit}
	}
	return nil
}

// auditLine checks the event log's hash chain and says what it found: the
// first bad sequence number, or how many events are intact and how many of
// them had their data removed under the disk cap.
func auditLine(ctx context.Context, db *sqlite.DB) (string, bool, error) {
	a, err := db.Audit(ctx)
	if a.BadSeq != 0 {
		return fmt.Sprintf("chain broken at seq %d (%d events checked): %v", a.BadSeq, a.Checked, err), true, nil
	}
	if err != nil {
		return "", false, err
	}
	return fmt.Sprintf("ok: %d events, hash chain intact, %d redacted under the disk cap", a.Checked, a.Redacted), false, nil
}

// cmdTime records a trusted time. A running gateway reads the stored value
// at start; the console's trust-time command updates a running one.
func cmdTime(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "reset" {
		return cmdTimeReset(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "trust" {
		return usageErr("time needs a subcommand: trust or reset")
	}
	fs := newFlags(e, "time trust", "time trust --config FILE [T]")
	cfg := fs.String("config", "", "site file")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	t := e.now()
	if fs.NArg() > 0 {
		if t, err = parseTime(strings.Join(fs.Args(), " "), f.Site.Location); err != nil {
			return usageErr("%v", err)
		}
	}
	gw, done, err := storeGateway(ctx, f, true, funcClock(e.now))
	if err != nil {
		return err
	}
	defer done()
	moved, err := gw.AdvanceTrustedTime(ctx, t, "cli")
	if err != nil {
		return err
	}
	if moved {
		fmt.Fprintf(e.stdout, "latest trusted time is now %s\n", t.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(e.stdout, "unchanged: the stored trusted time is already at or after %s\n", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// cmdTimeReset takes the stored trusted time back to T (default: the wall
// clock): the way out when a wrong trusted time (a cloud whose clock ran
// ahead) refuses every time-limited key. It is an audited override. Run it
// with the gateway stopped: a running gateway caches the trusted time.
func cmdTimeReset(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "time reset", "time reset --config FILE --operator NAME --reason TEXT [T]")
	cfg := fs.String("config", "", "site file")
	operator := fs.String("operator", "", "who resets it (recorded)")
	reason := fs.String("reason", "", "why (recorded)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*operator) == "" || strings.TrimSpace(*reason) == "" {
		return usageErr("time reset needs --operator and --reason: it is an audited override")
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	t := e.now()
	if fs.NArg() > 0 {
		if t, err = parseTime(strings.Join(fs.Args(), " "), f.Site.Location); err != nil {
			return usageErr("%v", err)
		}
	}
	gw, done, err := storeGateway(ctx, f, true, funcClock(e.now))
	if err != nil {
		return err
	}
	defer done()
	prev, err := gw.ResetTrustedTime(ctx, t, gateway.Override{Operator: *operator, Reason: *reason})
	if err != nil {
		return err
	}
	was := "never set"
	if !prev.IsZero() {
		was = prev.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(e.stdout, "latest trusted time reset to %s (was %s)\n", t.UTC().Format(time.RFC3339), was)
	return nil
}

// cmdReport prints operator reports from the store. Today: the exits let
// through unpaid (attendant overrides, cars let go by the fire alarm or
// while the gateway was down, overstays).
func cmdReport(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("report needs a subcommand: unpaid")
	}
	if args[0] != "unpaid" {
		return usageErr("unknown report subcommand %q; want unpaid", args[0])
	}
	fs := newFlags(e, "report unpaid", "report unpaid --config FILE [--from T] [--to T] [--json]")
	cfg := fs.String("config", "", "site file")
	fromS := fs.String("from", "", "exits from this time (default: 30 days ago)")
	toS := fs.String("to", "", "exits until this time (default: now)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	to, from := e.now(), e.now().Add(-30*24*time.Hour)
	if *fromS != "" {
		if from, err = parseTime(*fromS, f.Site.Location); err != nil {
			return usageErr("--from: %v", err)
		}
	}
	if *toS != "" {
		if to, err = parseTime(*toS, f.Site.Location); err != nil {
			return usageErr("--to: %v", err)
		}
	}
	if from.After(to) {
		return usageErr("--from %s is after --to %s", from.In(f.Site.Location).Format(time.RFC3339), to.In(f.Site.Location).Format(time.RFC3339))
	}
	gw, done, err := storeGateway(ctx, f, false, funcClock(e.now))
	if err != nil {
		return err
	}
	defer done()
	rows, err := gw.UnpaidExits(ctx, from, to)
	if err != nil {
		return err
	}
	unverified, err := gw.UnverifiedExits(ctx, from, to)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []gateway.UnpaidExit{}
		}
		if unverified == nil {
			unverified = []gateway.UnverifiedExit{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Unpaid     []gateway.UnpaidExit     `json:"unpaid"`
			Unverified []gateway.UnverifiedExit `json:"unverified"`
		}{rows, unverified})
	}
	var total int64
	for _, r := range rows {
		total += r.Unpaid
		fmt.Fprintf(e.stdout, "%s %s entry %s exit %s fee %s paid %s unpaid %s %s\n", r.SessionID, r.Credential,
			r.EntryAt.In(f.Site.Location).Format("2006-01-02 15:04"), r.ExitAt.In(f.Site.Location).Format("2006-01-02 15:04"),
			money(r.Fee), money(r.Paid), money(r.Unpaid), r.Currency)
	}
	fmt.Fprintf(e.stdout, "%d exits let through unpaid, %s in all\n", len(rows), money(total))
	for _, u := range unverified {
		fmt.Fprintf(e.stdout, "unverified exit at %s %s (%s): event %d\n", u.Lane,
			u.At.In(f.Site.Location).Format("2006-01-02 15:04:05"), u.Cause, u.Seq)
	}
	if len(unverified) > 0 {
		fmt.Fprintf(e.stdout, "%d vehicles left through exits held open by the fire alarm with no decision; "+
			"their sessions stay open until an attendant closes them (override <lane> <ref> <reason>)\n", len(unverified))
	}
	return nil
}
