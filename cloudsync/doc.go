// Package cloudsync keeps the operator's cloud in sync with the gateway
// over MQTT (github.com/eclipse/paho.mqtt.golang): every event of the
// hash-chained log goes up on lotgate/v1/{site}/up/events, in sequence
// order, batched as it is queued (one or more consecutive events per
// message, Batch), through a bounded window of messages in flight, and
// leaves the outbox only when the cloud acknowledges it (down/ack up to a
// seq) — a broker's PUBACK is not delivery to the cloud. The cloud may ask for a replay
// (down/replay). Signed messages on down/msg are handed to the core
// (gateway.Sync), which stores them durably; only then is the MQTT
// message acknowledged (manual acks). up/state is retained: "offline" by
// the last will, "online" with versions, device health, outbox depth and
// the degraded modes on connect and on change.
//
// The SQLite outbox is the durable copy; paho's in-memory store only
// holds what is in flight. docs/asyncapi.yaml is the contract.
//
// cloudsync speaks in gateway types. It must not import gateway/sqlite,
// web or drivers; only cloudsync (and cloudsync/demo) import paho and
// mochi-mqtt.
package cloudsync
