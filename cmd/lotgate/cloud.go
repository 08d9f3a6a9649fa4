package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/cloudsync/demo"
	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// cloudRuntime is the running cloud side: the core's sync (signed
// messages, receipts, delegation), the MQTT client and, in demo mode, the
// demo cloud. The web server needs Sync (receipts posted to the local
// page, delegation requests) and Client (metrics, link state).
type cloudRuntime struct {
	Sync   *gateway.Sync
	Client *cloudsync.Client // nil with cloud mode off
	Demo   *demo.Cloud       // nil unless cloud mode demo
	stop   func(context.Context) error
}

// startCloud starts cloud sync as the config says and returns the function
// that stops it (call it before Halt and before closing the store).
func startCloud(ctx context.Context, f *config.File, gw *gateway.Gateway, db *sqlite.DB, log *slog.Logger) (stop func(context.Context) error, err error) {
	rt, err := startCloudRuntime(ctx, f, gw, db, log, os.Getenv)
	if err != nil {
		return nil, err
	}
	return rt.stop, nil
}

// startCloudRuntime is startCloud returning everything it started.
func startCloudRuntime(ctx context.Context, f *config.File, gw *gateway.Gateway, db *sqlite.DB, log *slog.Logger, getenv func(string) string) (*cloudRuntime, error) {
	c := f.Cloud
	log = log.With("component", "cloud")
	rt := &cloudRuntime{Sync: gateway.NewSync(gw, gateway.SyncOptions{Countdown: c.Countdown, MaxCommandLifetime: c.CommandMaxAge, Logger: log})}
	if c.Mode == config.CloudOff || c.Mode == "" {
		// No uplink: receipts carried by phones still apply; delegation
		// is refused (offline).
		if _, err := rt.Sync.ApplyPending(ctx); err != nil {
			log.Error("apply stored cloud messages", "err", err)
		}
		log.Warn("cloud sync is off: events stay in the local outbox")
		stopCap := runDiskCap(ctx, gw, c.DiskCap, diskCapEvery, log)
		rt.stop = func(context.Context) error { stopCap(); return nil }
		return rt, nil
	}
	o := cloudsync.Options{
		Site: f.Site.ID, ClientID: f.CloudClientID(), Store: db, Downlink: rt.Sync, Version: version,
		Window: c.Window, MessageEvents: c.MessageEvents, MessageBytes: c.MessageBytes, AckTimeout: c.AckTimeout, MaxReconnectInterval: c.MaxReconnectInterval, Logger: log,
		Info: func(ctx context.Context) cloudsync.Info {
			var lv int64
			_ = db.View(ctx, func(tx gateway.Tx) error { var err error; lv, err = tx.ListVersion(); return err })
			up, why := rt.Sync.PaymentProvider()
			return cloudsync.Info{ListVersion: lv, TariffVersion: gw.CurrentTariff().Version, PaymentProvider: up, ProviderReason: why,
				Devices: gw.DeviceHealth()}
		},
	}
	switch c.Mode {
	case config.CloudDemo:
		priv, err := readSeed(c.Demo.SeedFile)
		if err != nil {
			return nil, &exitError{code: ExitConfig, err: fmt.Errorf("cloud mode demo needs the demo operator seed: %w", err)}
		}
		kid := keys.DeriveKID(priv.Public().(ed25519.PublicKey))
		if _, ok := f.Site.TrustedKeys[kid]; !ok {
			return nil, &exitError{code: ExitConfig, err: fmt.Errorf("cloud mode demo signs with %s, which trusted_keys does not list", kid)}
		}
		currency := ""
		if f.Site.Tariff != nil {
			currency = f.Site.Tariff.Currency
		}
		d, err := demo.Start(demo.Options{Site: f.Site.ID, SiteName: f.Site.Name, Currency: currency, BrokerListen: c.Demo.BrokerListen,
			CheckoutListen: c.Demo.CheckoutListen, Kid: kid, Priv: priv, Approve: c.Demo.Approve, TimeEvery: c.Demo.TimeEvery, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("start the demo cloud: %w", err)
		}
		rt.Demo = d
		o.Broker = d.BrokerURL()
		log.Info("demo cloud: pay open sessions on the checkout page", "url", d.CheckoutURL())
	case config.CloudMQTT:
		if c.Broker == "" {
			return nil, &exitError{code: ExitConfig, err: errors.New("cloud mode mqtt needs cloud.broker")}
		}
		o.Broker, o.Username = c.Broker, c.Username
		pw, err := cloudPassword(c, getenv)
		if err != nil {
			return nil, &exitError{code: ExitConfig, err: err}
		}
		o.Password = pw
		if o.TLS, err = cloudTLS(c.TLS); err != nil {
			return nil, &exitError{code: ExitConfig, err: err}
		}
	default:
		return nil, &exitError{code: ExitConfig, err: fmt.Errorf("unknown cloud mode %q", c.Mode)}
	}
	client, err := cloudsync.New(o)
	if err == nil {
		err = client.Open(ctx)
	}
	if err != nil {
		if rt.Demo != nil {
			rt.Demo.Close()
		}
		return nil, err
	}
	rt.Client = client
	rt.Sync.SetOnline(client.Online)
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // approval countdowns
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case now := <-t.C:
				rt.Sync.Tick(tctx, now)
			}
		}
	}()
	stopCap := runDiskCap(ctx, gw, c.DiskCap, diskCapEvery, log)
	rt.stop = func(ctx context.Context) error {
		cancel()
		wg.Wait()
		stopCap()
		err := client.Close(ctx)
		if rt.Demo != nil {
			err = errors.Join(err, rt.Demo.Close())
		}
		return err
	}
	return rt, nil
}

// diskCapEvery is how often the store is measured against cloud.disk_cap.
const diskCapEvery = 30 * time.Second

// runDiskCap enforces the disk cap at start and every interval until the
// returned function is called (it waits for the goroutine). A cap of 0
// runs nothing.
func runDiskCap(ctx context.Context, gw *gateway.Gateway, capBytes int64, every time.Duration, log *slog.Logger) (stop func()) {
	if capBytes <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		over := false
		for {
			res, err := gw.EnforceDiskCap(ctx, capBytes)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("disk cap", "err", err)
			case res.OverCap != over:
				over = res.OverCap
				if over {
					log.Error("the store is over its disk cap with no routine event left to redact: it keeps growing",
						"cap", capBytes, "bytes", res.After)
				} else {
					log.Info("the store is under its disk cap again", "cap", capBytes, "bytes", res.After)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// cloudPassword reads the broker password from its file or variable.
func cloudPassword(c config.Cloud, getenv func(string) string) (string, error) {
	switch {
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("cloud.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case c.PasswordEnv != "":
		pw := getenv(c.PasswordEnv)
		if pw == "" {
			return "", fmt.Errorf("cloud.password_env: $%s is empty", c.PasswordEnv)
		}
		return pw, nil
	}
	return "", nil
}

// cloudTLS builds the TLS config from the cloud's TLS files (nil when
// none is set: a ssl:// broker then uses the system roots).
func cloudTLS(t config.CloudTLS) (*tls.Config, error) {
	if t == (config.CloudTLS{}) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cloud.tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
