package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/sqlite"
	"github.com/lotgate/lotgate/web"
)

// webRuntime is the gateway's local web server (http.listen) and the hub
// its session watches read. The hub exists before the gateway, whose
// observer it is; the server starts once the gateway is open and cloud
// sync has started (receipts go to its Sync, its metrics to /metrics).
type webRuntime struct {
	hub *web.Hub
	srv *web.Server
	log *slog.Logger
}

func newWebRuntime(log *slog.Logger) *webRuntime {
	return &webRuntime{hub: web.NewHub(web.HubOptions{Logger: log}), log: log}
}

// observers are the gateway.Options.Observers the web side needs.
func (w *webRuntime) observers() []gateway.Observer { return []gateway.Observer{w.hub} }

// start serves f.HTTP.Listen and logs the address ("http listening").
func (w *webRuntime) start(ctx context.Context, f *config.File, gw *gateway.Gateway, db *sqlite.DB, cloud *cloudRuntime, now func() time.Time) error {
	o := web.Options{Listen: f.HTTP.Listen, Gateway: gw, Store: db, Receipts: cloud.Sync, Hub: w.hub,
		Version: version, Logger: w.log, Clock: funcClock(now)}
	if cloud.Client != nil {
		o.Metrics = append(o.Metrics, cloud.Client)
	}
	srv, err := web.New(o)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	w.srv = srv
	return nil
}

// stop stops the server (first in the shutdown: it takes receipts) and
// logs what went wrong.
func (w *webRuntime) stop(ctx context.Context) {
	if w.srv == nil {
		return
	}
	if err := w.srv.Shutdown(ctx); err != nil {
		w.log.Error("stop the web server", "err", err)
	}
}

// Interface guards
var (
	_ web.Gateway       = (*gateway.Gateway)(nil)
	_ web.Receipts      = (*gateway.Sync)(nil)
	_ web.Viewer        = (*sqlite.DB)(nil)
	_ web.MetricsWriter = (*cloudsync.Client)(nil)
)
