// Package web is the gateway's local HTTP server: the JSON API under
// /api/v1/, the phone page that takes a payment receipt carried by a
// driver's phone (/r), the session watch (a websocket the driver pages
// subscribe to), and the operations endpoints /metrics (Prometheus text
// format), /healthz and /readyz. The driver pages (/x/{exit}) and the
// installer UI (/admin/) will live here too. docs/openapi.yaml is the
// contract.
//
// It adapts HTTP to the core and speaks in gateway types, reaching the
// core through the small interfaces declared here (Gateway, Receipts,
// Viewer), which *gateway.Gateway, *gateway.Sync and the store satisfy.
// It must not import cloudsync, drivers, gateway/sqlite, config or MQTT:
// cmd/lotgate wires it, and figures of other components reach /metrics
// as MetricsWriters.
package web
