package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// tickInterval is how often the gateway's timers run.
const tickInterval = 200 * time.Millisecond

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 10 * time.Second

// cmdRun runs the gateway until ctx is done or the console's stop command.
func cmdRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "run [--config FILE] [--console=false]")
	cfg := fs.String("config", "configs/site.example.yaml", "site file")
	console := fs.Bool("console", true, "read simulator and gateway commands on stdin (type help)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: f.Log.SlogLevel()}))
	log = log.With("site", f.Site.ID)
	if f.Site.Tariff == nil {
		return &exitError{code: ExitConfig, err: fmt.Errorf("%s: the gateway needs a tariff section", *cfg)}
	}

	db, err := sqlite.Open(ctx, f.Store.Path, sqlite.Options{Logger: log.With("component", "store"), GroupCommit: true, Exclusive: true})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	devices, err := sim.New(f.Site, log.With("component", "sim"))
	if err != nil {
		return fmt.Errorf("start simulated devices: %w", err)
	}
	// Real drivers (GPIO, Modbus, serial scanners) for the devices that
	// use them. Their inputs wait in the relay until the gateway is open.
	relay := newInputsRelay()
	real, err := startDrivers(ctx, f, relay, relay, log, driverOptions{})
	if err != nil {
		return fmt.Errorf("start device drivers: %w", err)
	}
	defer func() {
		// After Halt (actuators safe), before the store closes.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := real.close(cctx); err != nil {
			log.Error("close device drivers", "err", err)
		}
	}()
	webrt := newWebRuntime(log) // its hub observes the gateway's events
	late := &observerRelay{}    // cloud sync, made after the gateway
	gw, err := gateway.New(gateway.Options{
		Site: f.Site, Store: db, Actuators: mergeActuators(devices.Actuators(), real.actuators()), Clock: funcClock(e.now),
		Logger: log, ActuatorTimeout: f.Site.Policy.ActuatorTimeout, Observers: append(webrt.observers(), late),
	})
	if err != nil {
		return err
	}
	devices.Attach(gw)
	if err := gw.Open(ctx); err != nil {
		return err
	}
	reportSensors(ctx, f, devices, gw)
	relay.Attach(ctx, gw, gw)
	cloud, err := startCloudRuntime(ctx, f, gw, db, log, e.getenv)
	if err != nil {
		return err
	}
	if cloud.Client != nil {
		late.Add(cloud.Client) // a new event wakes the outbox drain
	}
	if err := webrt.start(ctx, f, gw, db, cloud, e.now); err != nil {
		return errors.Join(fmt.Errorf("start the web server: %w", err), cloud.stop(ctx))
	}
	log.Info("lotgate running", "version", version, "store", f.Store.Path, "lanes", len(f.Site.Lanes),
		"spaces", len(f.Site.Spaces), "devices", len(f.Site.Devices))

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gw.Run(ctx, tickInterval)
	}()
	if *console {
		fmt.Fprintf(e.stdout, "lotgate %s: site %s (%s). Simulated devices. Type help.\n", version, f.Site.ID, f.Site.Name)
		c := &consoleCmds{gw: gw, db: db, file: f, stop: stop, now: e.now, cloud: cloud}
		go func() {
			if err := devices.RunConsole(ctx, e.stdin, e.stdout, append(c.commands(), real.simCommands()...)...); err != nil {
				log.Error("console", "err", err)
			}
		}()
	}
	<-ctx.Done()
	<-done
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer scancel()
	webrt.stop(sctx) // no more receipts; the watches are told goodbye
	// The cloud side stops first (a final outbox flush), then the
	// actuators go to their safe state, and the store closes last.
	if err := cloud.stop(sctx); err != nil {
		log.Error("stop cloud sync", "err", err)
	}

	// Shutdown in reverse: commands stopped above; actuators to their safe
	// state; the store closes last (deferred).
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := gw.Halt(hctx); err != nil {
		log.Error("halt", "err", err)
	}
	log.Info("lotgate stopped")
	return nil
}

// reportSensors tells the gateway every simulated sensor's state at start,
// so it knows, for instance, whether a restored space session's car is
// still there.
func reportSensors(ctx context.Context, f *config.File, devices *sim.Site, gw *gateway.Gateway) {
	for _, d := range f.Site.Devices {
		switch d.Kind {
		case gateway.KindLoop, gateway.KindOccupancy, gateway.KindDoorSensor, gateway.KindFireAlarm:
			if v, err := devices.Sensor(d.ID); err == nil {
				gw.SensorChanged(ctx, d.ID, v)
			}
		}
	}
}

// consoleCmds are the gateway's own console commands, next to the
// simulator's.
type consoleCmds struct {
	gw    *gateway.Gateway
	db    *sqlite.DB
	file  *config.File
	stop  func()
	now   func() time.Time
	cloud *cloudRuntime
}

func (c *consoleCmds) commands() []sim.Command {
	return []sim.Command{
		{Name: "sessions", Help: "open sessions and what each owes", Run: c.sessions},
		{Name: "fee", Usage: "<ref>", Help: "what a session owes now (ref: ticket text, session ID, space:P01…)", Run: c.fee},
		{Name: "checkout", Usage: "<ref>", Help: "start an e-payment checkout (locks the session)", Run: c.checkout},
		{Name: "epay", Usage: "<ref> <amount> [checkout-id]", Help: "apply an e-payment completion", Run: c.epay},
		{Name: "release", Usage: "<space>", Help: "lower a space's flap when nothing is due", Run: c.release},
		{Name: "key", Usage: "<resources> <actions> [uses]", Help: "issue a demo key (comma lists; needs the demo operator seed)", Run: c.key},
		{Name: "present", Usage: "<lane> <text>", Help: "show a key, ticket or card at a lane's scanner; prints the decision", Run: c.present},
		{Name: "open", Usage: "<resource> <action> <key text>", Help: "present a key for a locker, door or space", Run: c.open},
		{Name: "override", Usage: "<lane> <ref|-> <reason…>", Help: "attendant opens a lane, closing the session of ref if given (audited)", Run: c.override},
		{Name: "lost", Usage: "<lane>", Help: "lost ticket: open a session charged the lost-ticket fee", Run: c.lost},
		{Name: "revoke", Usage: "<key-id>", Help: "revoke a key", Run: c.revoke},
		{Name: "trust-time", Usage: "[time]", Help: "record a trusted time (default: now)", Run: c.trustTime},
		{Name: "lanes", Help: "lane states", Run: c.lanes},
		{Name: "cloud", Help: "cloud link state, degraded modes and the demo checkout page", Run: c.cloudState},
		{Name: "events", Usage: "[n]", Help: "the last n events (default 10)", Run: c.events},
		{Name: "verify", Help: "check the event log's hash chain", Run: c.verify},
		{Name: "stop", Help: "stop the gateway", Run: func(context.Context, string) (string, error) { c.stop(); return "stopping", nil }},
	}
}

func (c *consoleCmds) sessions(ctx context.Context, _ string) (string, error) {
	var open []gateway.Session
	if err := c.db.View(ctx, func(tx gateway.Tx) error {
		var err error
		open, err = tx.OpenSessions()
		return err
	}); err != nil {
		return "", err
	}
	if len(open) == 0 {
		return "no open sessions", nil
	}
	var b strings.Builder
	for i, s := range open {
		v, err := c.gw.LookupSession(ctx, s.ID)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %s entry %s due %s paid %s", s.ID, s.Credential,
			s.EntryAt.In(c.file.Site.Location).Format("2006-01-02 15:04:05"), money(v.Due.Amount), money(s.Paid))
	}
	return b.String(), nil
}

func (c *consoleCmds) fee(ctx context.Context, args string) (string, error) {
	if args == "" {
		return "", errors.New("usage: fee <ref>")
	}
	v, err := c.gw.LookupSession(ctx, args)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("session %s: fee %s, paid %s, due %s %s", v.Session.ID, money(v.Due.Fee), money(v.Due.Paid), money(v.Due.Amount), v.Due.Currency)
	if v.Due.InGrace {
		s += fmt.Sprintf(" (paid; leave before %s)", v.Due.GraceUntil.In(c.file.Site.Location).Format("15:04:05"))
	}
	return s, nil
}

func (c *consoleCmds) checkout(ctx context.Context, args string) (string, error) {
	if args == "" {
		return "", errors.New("usage: checkout <ref>")
	}
	co, q, err := c.gw.BeginCheckout(ctx, args)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("checkout %s quote %s amount %s until %s", co.ID, q.ID, money(q.Amount),
		co.ExpiresAt.In(c.file.Site.Location).Format("15:04:05")), nil
}

func (c *consoleCmds) epay(ctx context.Context, args string) (string, error) {
	f := strings.Fields(args)
	if len(f) < 2 || len(f) > 3 {
		return "", errors.New("usage: epay <ref> <amount> [checkout-id]")
	}
	amount, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return "", fmt.Errorf("amount %q: want minor units", f[1])
	}
	in := gateway.PaymentIn{ID: "console-" + randomID(), Ref: f[0], Method: gateway.PayEPayment, Amount: amount}
	if len(f) == 3 {
		in.CheckoutID = f[2]
	}
	r, err := c.gw.ApplyPayment(ctx, in)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("payment %s applied to %s: due %s, settled %v", r.Payment.ID, r.SessionID, money(r.Due.Amount), r.Settled), nil
}

func (c *consoleCmds) release(ctx context.Context, args string) (string, error) {
	d, err := c.gw.ReleaseSpace(ctx, strings.TrimSpace(args))
	if err != nil {
		return "", err
	}
	return decisionLine(d), nil
}

// key issues a demo key signed with the demo operator seed that sits next
// to the config file, if the site trusts it.
func (c *consoleCmds) key(_ context.Context, args string) (string, error) {
	f := strings.Fields(args)
	if len(f) < 2 || len(f) > 3 {
		return "", errors.New("usage: key <resources> <actions> [uses]")
	}
	seed := filepath.Join(filepath.Dir(c.file.Name), "demo-operator.seed")
	priv, err := readSeed(seed)
	if err != nil {
		return "", fmt.Errorf("demo keys need %s: %w", seed, err)
	}
	kid := keys.DeriveKID(priv.Public().(ed25519.PublicKey))
	if _, ok := c.file.Site.TrustedKeys[kid]; !ok {
		return "", fmt.Errorf("the site does not trust the demo operator key %s", kid)
	}
	now := c.now().Truncate(time.Second)
	cl := keys.Claims{KeyID: "demo-" + strings.ToLower(randomID()), Site: c.file.Site.ID, Holder: "demo",
		Resources: strings.Split(f[0], ","), Actions: strings.Split(f[1], ","), IssuedAt: now, Expires: now.Add(24 * time.Hour)}
	if len(f) == 3 {
		if cl.Uses, err = strconv.Atoi(f[2]); err != nil {
			return "", fmt.Errorf("uses %q: %w", f[2], err)
		}
	}
	cose, err := keys.Sign(cl, kid, priv)
	if err != nil {
		return "", err
	}
	return keys.EncodeText(cose), nil
}

func (c *consoleCmds) present(ctx context.Context, args string) (string, error) {
	lane, text, _ := strings.Cut(strings.TrimSpace(args), " ")
	if lane == "" || strings.TrimSpace(text) == "" {
		return "", errors.New("usage: present <lane> <text>")
	}
	d, err := c.gw.PresentAtLane(ctx, lane, text)
	if err != nil {
		return "", err
	}
	return decisionLine(d), nil
}

func (c *consoleCmds) open(ctx context.Context, args string) (string, error) {
	// The key text is the rest of the line: base45 may contain spaces.
	f := strings.SplitN(strings.TrimSpace(args), " ", 3)
	if len(f) != 3 {
		return "", errors.New("usage: open <resource> <action> <key text>")
	}
	d, err := c.gw.Authorize(ctx, gateway.AccessRequest{Text: f[2], Resource: f[0], Action: gateway.Action(f[1]), Channel: gateway.ChannelScanner})
	if err != nil {
		return "", err
	}
	return decisionLine(d), nil
}

func (c *consoleCmds) override(ctx context.Context, args string) (string, error) {
	f := strings.SplitN(strings.TrimSpace(args), " ", 3)
	if len(f) != 3 {
		return "", errors.New("usage: override <lane> <ref|-> <reason…>")
	}
	ref := f[1]
	if ref == "-" {
		ref = ""
	}
	d, err := c.gw.OverrideLane(ctx, f[0], ref, gateway.Override{Operator: "console", Reason: strings.TrimSpace(f[2])})
	if err != nil {
		return "", err
	}
	return decisionLine(d), nil
}

func (c *consoleCmds) lost(ctx context.Context, args string) (string, error) {
	v, err := c.gw.LostTicket(ctx, strings.TrimSpace(args), gateway.Override{Operator: "console", Reason: "lost ticket"})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("session %s (%s): due %s", v.Session.ID, v.Session.Credential, money(v.Due.Amount)), nil
}

func (c *consoleCmds) revoke(ctx context.Context, args string) (string, error) {
	id := strings.TrimSpace(args)
	if err := c.gw.Revoke(ctx, gateway.Revocation{KeyID: id, Reason: "console"}); err != nil {
		return "", err
	}
	return "revoked " + id, nil
}

func (c *consoleCmds) trustTime(ctx context.Context, args string) (string, error) {
	t := c.now()
	if strings.TrimSpace(args) != "" {
		var err error
		if t, err = parseTime(args, c.file.Site.Location); err != nil {
			return "", err
		}
	}
	moved, err := c.gw.AdvanceTrustedTime(ctx, t, "console")
	if err != nil {
		return "", err
	}
	if !moved {
		return "unchanged (the stored trusted time is later)", nil
	}
	return "latest trusted time " + t.UTC().Format(time.RFC3339), nil
}

func (c *consoleCmds) cloudState(context.Context, string) (string, error) {
	cl := c.cloud.Client
	if cl == nil {
		return "cloud sync is off: events stay in the local outbox", nil
	}
	s := fmt.Sprintf("connected=%v online=%v degraded=%v", cl.Connected(), cl.Online(), cl.Degraded())
	if c.cloud.Demo != nil {
		s += " checkout=" + c.cloud.Demo.CheckoutURL()
	}
	return s, nil
}

func (c *consoleCmds) lanes(context.Context, string) (string, error) {
	var b strings.Builder
	for i, l := range c.gw.Lanes() {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s %s occupied=%v barrier_up=%v fire_held=%v", l.ID, l.Direction, l.Occupied, l.BarrierUp, l.FireHeld)
	}
	return b.String(), nil
}

func (c *consoleCmds) events(ctx context.Context, args string) (string, error) {
	n := 10
	if args != "" {
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(args)); err != nil || n <= 0 {
			return "", errors.New("usage: events [n]")
		}
	}
	last, err := c.db.LastSeq(ctx)
	if err != nil {
		return "", err
	}
	from := uint64(1)
	if last > uint64(n) {
		from = last - uint64(n) + 1
	}
	var evs []gateway.Event
	if err := c.db.View(ctx, func(tx gateway.Tx) error {
		var err error
		evs, err = tx.Events(from, n)
		return err
	}); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "#%d %s %s %s", ev.Seq, ev.Time.In(c.file.Site.Location).Format("15:04:05"), ev.Type, ev.Data)
	}
	return b.String(), nil
}

func (c *consoleCmds) verify(ctx context.Context, _ string) (string, error) {
	line, _, err := auditLine(ctx, c.db)
	return line, err
}

// decisionLine is a decision for the console.
func decisionLine(d gateway.Decision) string {
	if d.Allowed {
		return fmt.Sprintf("allowed (%s) event #%d", d.Reason, d.Seq)
	}
	s := fmt.Sprintf("denied: %s: %s", d.Reason, d.Message)
	if d.Due > 0 {
		s += " (due " + money(d.Due) + ")"
	}
	return s
}

// Interface guards
var _ gateway.Clock = funcClock(nil)
