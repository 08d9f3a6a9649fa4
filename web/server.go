package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Sessions finds parking sessions and what they owe (*gateway.Gateway).
type Sessions interface {
	// LookupSession finds a session by ID or by a reference: a ticket's
	// QR text, "ticket:…", "space:…", "key:…". An unknown reference is an
	// error whose gateway.KindOf is NotFound.
	LookupSession(ctx context.Context, ref string) (gateway.SessionView, error)
}

// SiteStatus is the live state of the site, for /metrics and the pages
// (*gateway.Gateway). Every method is safe for concurrent use and cheap;
// only Occupancy reads the store.
type SiteStatus interface {
	Site() *gateway.Site
	Occupancy(ctx context.Context) (gateway.CapacityState, int, error)
	Lanes() []gateway.LaneStatus
	FireAlarmActive() bool
	DeviceHealth() []gateway.DeviceHealth
}

// Gateway is what the server needs from the core.
type Gateway interface {
	Sessions
	SiteStatus
}

// Receipts applies payment receipts carried by a driver's phone
// (*gateway.Sync).
type Receipts interface {
	// ApplyReceipt verifies and applies a receipt given as its QR text
	// (LGR1:…) exactly as if it had come over MQTT: at most once by
	// message ID. A receipt that is refused is an Outcome, not an error;
	// an error means nothing was decided (the store failed): try again.
	ApplyReceipt(ctx context.Context, text, source string) (gateway.Outcome, error)
}

// Viewer reads the store in a snapshot (the store: *sqlite.DB). The
// server uses it to tell whether the store answers (/readyz) and to find
// a session's checkout and quote.
type Viewer interface {
	View(ctx context.Context, fn func(gateway.Tx) error) error
}

// MetricsWriter writes metrics in the Prometheus text exposition format
// (version 0.0.4), for /metrics. *cloudsync.Client is one.
type MetricsWriter interface {
	WriteMetrics(w io.Writer) error
}

// MetricsFunc adapts a function to MetricsWriter.
type MetricsFunc func(w io.Writer) error

// WriteMetrics calls f(w).
func (f MetricsFunc) WriteMetrics(w io.Writer) error { return f(w) }

// Check is a readiness check of /readyz: Func returns why the gateway is
// not ready, or nil.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Listen is the host:port to listen on; port 0 picks a free port
	// (Addr tells which).
	Listen   string
	Gateway  Gateway // required
	Store    Viewer  // required
	Receipts Receipts
	// Hub feeds the session watches. It must be one of the gateway's
	// observers (gateway.Options.Observers), so it must exist before the
	// gateway does. Nil: the watch answers 503.
	Hub *Hub
	// Metrics are written to /metrics after the gateway's own figures.
	Metrics []MetricsWriter
	// Checks are readiness checks beyond the store's.
	Checks  []Check
	Version string        // shown in lotgate_build_info
	Logger  *slog.Logger  // discarded when nil
	Clock   gateway.Clock // gateway.SystemClock when nil

	// MaxBody bounds a request body (default 16 KiB: a receipt's QR
	// text is at most 4296 characters).
	MaxBody int64
	// ReceiptRate and ReceiptBurst bound the receipts the server takes
	// from everyone together, per second (default 5, burst 20): each
	// forged receipt costs a signature check and a durable event.
	ReceiptRate  float64
	ReceiptBurst int
	// WatchRefresh is how often a watch looks at what its session owes,
	// and says so when it changed (default 30s; the fee grows unit by
	// unit with no event).
	WatchRefresh time.Duration
	// PingInterval is how often a watch pings its client (default 30s);
	// a client that does not answer within twice that is dropped.
	PingInterval time.Duration
	// WriteTimeout bounds each write to a watch (default 10s).
	WriteTimeout time.Duration
}

// HTTP server timeouts. A driver's phone on a weak link gets time; a
// client that holds a connection open without sending a request does not.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	defaultMaxBody    = 16 << 10
	readyTimeout      = 2 * time.Second
)

// Server is the gateway's local HTTP server. Start it after the gateway
// is open; Shutdown it before the gateway halts.
type Server struct {
	o       Options
	log     *slog.Logger
	handler http.Handler
	limit   *limiter
	pages   *pages
	stats   stats

	stopping  atomic.Bool
	watchStop chan struct{} // closed by Shutdown: watches say goodbye
	base      context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the serve loop and every watch

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// stats are the server's own counters, for /metrics.
type stats struct {
	receipts sync.Map // result → *atomic.Uint64
}

func (st *stats) receipt(result string) {
	v, _ := st.receipts.LoadOrStore(result, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

func (st *stats) receiptCount(result string) uint64 {
	if v, ok := st.receipts.Load(result); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

// New builds a server; Start makes it listen.
func New(o Options) (*Server, error) {
	if o.Gateway == nil || o.Store == nil {
		return nil, errors.New("web: the server needs a gateway and a store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = gateway.SystemClock{}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = defaultMaxBody
	}
	if o.ReceiptRate <= 0 {
		o.ReceiptRate = 5
	}
	if o.ReceiptBurst <= 0 {
		o.ReceiptBurst = 20
	}
	if o.WatchRefresh <= 0 {
		o.WatchRefresh = 30 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		o:         o,
		log:       o.Logger.With("component", "web"),
		limit:     newLimiter(o.ReceiptRate, o.ReceiptBurst, o.Clock),
		pages:     pg,
		watchStop: make(chan struct{}),
		base:      base,
		cancel:    cancel,
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's routes, for tests and for embedding in
// another server.
func (s *Server) Handler() http.Handler { return s.handler }

// routes registers every path. Each API path also has a method-less
// pattern, so a wrong method gets a JSON 405 rather than the mux's text.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, methodNotAllowed("GET, HEAD"))
	}

	mux.HandleFunc("GET /api/v1/sessions/{ref}", s.getSession)
	mux.Handle("/api/v1/sessions/{ref}", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /api/v1/sessions/{ref}/watch", s.watch)
	mux.Handle("/api/v1/sessions/{ref}/watch", methodNotAllowed("GET"))
	mux.HandleFunc("POST /api/v1/receipts", s.postReceipt)
	mux.Handle("/api/v1/receipts", methodNotAllowed("POST"))
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such API path: "+r.URL.Path)
	})

	mux.HandleFunc("GET /r", s.receiptPage)
	mux.HandleFunc("POST /r", s.receiptPagePost)
	mux.Handle("/r", methodNotAllowed("GET, HEAD, POST"))
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", s.pages.assets))
	return s.common(mux)
}

// common sets what every answer carries and bounds every request body.
func (s *Server) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // a receipt may sit in /r's query
		h.Set("Cache-Control", "no-store")      // fees change by the minute
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// Start listens on Options.Listen and serves in the background until
// Shutdown. It logs the address it listens on ("http listening").
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", s.o.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.log.Info("http listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops taking requests: /readyz turns 503 at once, the watches
// are closed with a goodbye (1001), requests in flight finish (a receipt
// being applied is applied), and it returns when everything it started
// has stopped or ctx is done. Calling it twice is harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	// Under mu, so that no watch is counted (track) once Wait may run.
	s.mu.Lock()
	if s.stopping.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	srv := s.srv
	s.mu.Unlock()
	close(s.watchStop)
	if s.o.Hub != nil {
		s.o.Hub.Close()
	}
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("web: shutdown: %w", ctx.Err()))
	}
	return err
}
