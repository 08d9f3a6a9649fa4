package cloudsync_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/cloudsync/demo"
	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

const exampleSite = "../configs/site.example.yaml"

// env is a gateway on the example site with the real store, fake
// barriers, the sync side and a trusted operator key made for the test.
type env struct {
	t    testing.TB
	ctx  context.Context
	site *gateway.Site
	db   *sqlite.DB
	gw   *gateway.Gateway
	sync *gateway.Sync
	kid  string
	priv ed25519.PrivateKey
	bars *fakeBarriers
	pay  *fakePayStation
}

// fakePayStation records the refs the core said were settled.
type fakePayStation struct {
	notify chan string
}

func (fakePayStation) ShowFee(context.Context, string, int64) error { return nil }
func (p fakePayStation) Settled(_ context.Context, ref string) error {
	select {
	case p.notify <- ref:
	default:
	}
	return nil
}

// fakeBarriers records when each barrier was raised.
type fakeBarriers struct {
	mu     sync.Mutex
	raised map[string][]time.Time
	notify chan string
}

type fakeBarrier struct {
	f  *fakeBarriers
	id string
}

func (b fakeBarrier) Raise(context.Context) error {
	b.f.mu.Lock()
	b.f.raised[b.id] = append(b.f.raised[b.id], time.Now())
	b.f.mu.Unlock()
	select {
	case b.f.notify <- b.id:
	default:
	}
	return nil
}
func (fakeBarrier) Lower(context.Context) error { return nil }
func (fakeBarrier) Halt(context.Context) error  { return nil }

func (f *fakeBarriers) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.raised[id])
}

// newEnv opens a gateway in dir (a fresh temp dir when ""), signing with
// priv when given (a new key otherwise).
func newEnv(t testing.TB, dir string, priv ed25519.PrivateKey) *env {
	t.Helper()
	f, err := config.Load(exampleSite)
	if err != nil {
		t.Fatalf("load %s: %v", exampleSite, err)
	}
	site := *f.Site
	if priv == nil {
		_, _, priv, err = keys.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
	}
	pub := priv.Public().(ed25519.PublicKey)
	kid := keys.DeriveKID(pub)
	site.TrustedKeys = maps.Clone(site.TrustedKeys)
	site.TrustedKeys[kid] = pub
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lotgate.db"), sqlite.Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bars := &fakeBarriers{raised: map[string][]time.Time{}, notify: make(chan string, 64)}
	pay := &fakePayStation{notify: make(chan string, 64)}
	act := gateway.Actuators{Barriers: map[string]gateway.Barrier{}, PayStation: pay}
	for _, l := range site.Lanes {
		act.Barriers[l.Barrier] = fakeBarrier{f: bars, id: l.Barrier}
	}
	gw, err := gateway.New(gateway.Options{Site: &site, Store: db, Actuators: act})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, site: &site, db: db, gw: gw, sync: gateway.NewSync(gw, gateway.SyncOptions{}), kid: kid, priv: priv, bars: bars, pay: pay}
}

// client starts a cloudsync client for the env on broker.
func (e *env) client(broker string, edit ...func(*cloudsync.Options)) *cloudsync.Client {
	e.t.Helper()
	o := cloudsync.Options{Site: e.site.ID, Broker: broker, ClientID: "lotgate-" + e.site.ID, Store: e.db, Downlink: e.sync,
		AckTimeout: time.Second, MaxReconnectInterval: time.Second, Poll: 10 * time.Millisecond, StateInterval: 200 * time.Millisecond,
		Info: func(context.Context) cloudsync.Info {
			up, why := e.sync.PaymentProvider()
			return cloudsync.Info{TariffVersion: e.gw.CurrentTariff().Version, PaymentProvider: up, ProviderReason: why,
				Devices: e.gw.DeviceHealth()}
		}}
	for _, f := range edit {
		f(&o)
	}
	c, err := cloudsync.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Open(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.sync.SetOnline(c.Online)
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// operator starts the simulated cloud for the env's site and key.
func (e *env) operator(broker string, edit ...func(*demo.OperatorOptions)) *demo.Operator {
	e.t.Helper()
	o := demo.OperatorOptions{Broker: broker, Site: e.site.ID, Kid: e.kid, Priv: e.priv, AckEvery: 50, AckInterval: 20 * time.Millisecond}
	for _, f := range edit {
		f(&o)
	}
	op, err := demo.StartOperator(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(op.Close)
	return op
}

// appendEvents appends n routine events in batches, as a busy site would.
func appendEvents(t testing.TB, db *sqlite.DB, n int) uint64 {
	t.Helper()
	now := time.Now().UTC()
	for done := 0; done < n; {
		k := min(5000, n-done)
		err := db.Update(context.Background(), func(tx gateway.Tx) error {
			for i := 0; i < k; i++ {
				ev := gateway.Event{Time: now, Type: gateway.EvDevice, Data: json.RawMessage(fmt.Sprintf(`{"device":"in-1-loop","active":%v,"i":%d}`, i%2 == 0, done+i))}
				if err := tx.AppendEvent(&ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("append events: %v", err)
		}
		done += k
	}
	last, err := db.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// waitFor polls cond until it holds or the timeout runs out.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) acked() uint64 {
	_, a, err := e.db.OutboxDepth(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// outcomes counts the cloud.applied / refused / duplicate events the
// cloud received, by message ID.
func outcomes(evs []cloudsync.Event) (applied, refused, dup map[string]int) {
	applied, refused, dup = map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range evs {
		var d struct {
			ID string `json:"message_id"`
		}
		_ = json.Unmarshal(e.Data, &d)
		switch gateway.EventType(e.Type) {
		case gateway.EvCloudApplied:
			applied[d.ID]++
		case gateway.EvCloudRefused:
			refused[d.ID]++
		case gateway.EvCloudDuplicate:
			dup[d.ID]++
		}
	}
	return
}

// freePort returns a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mosquitto is Debian's broker, run by the test on a loopback port.
type mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startMosquitto starts mosquitto with at most 1000 queued messages per
// client. It skips the test when mosquitto is missing, unless
// LOTGATE_REQUIRE_MOSQUITTO=1 (CI), where it fails.
func startMosquitto(t testing.TB, conf ...string) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/bin/mosquitto"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("LOTGATE_REQUIRE_MOSQUITTO") == "1" {
			t.Fatalf("mosquitto is required (LOTGATE_REQUIRE_MOSQUITTO=1) but not installed: %v", err)
		}
		t.Skip("mosquitto not installed (apt-get install mosquitto); set LOTGATE_REQUIRE_MOSQUITTO=1 to make this a failure")
	}
	m := &mosquitto{t: t, bin: bin, port: freePort(t), conf: filepath.Join(t.TempDir(), "mosquitto.conf")}
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000\npersistence false\nlog_dest none\n", m.port)
	for _, l := range conf {
		text += l + "\n"
	}
	if err := os.WriteFile(m.conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(func() { m.kill(syscall.SIGKILL) })
	return m
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	var out strings.Builder
	m.cmd.Stdout, m.cmd.Stderr = &out, &out
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.done = make(chan struct{})
	go func() { m.cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-m.done:
			m.t.Fatalf("mosquitto exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %d: %s", m.port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops mosquitto with sig and waits for it.
func (m *mosquitto) kill(sig syscall.Signal) {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(sig)
	<-m.done
}
