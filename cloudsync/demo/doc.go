// Package demo is lotgate's built-in demo cloud: an embedded MQTT broker
// (mochi-mqtt) on a loopback port and a simulated operator cloud that
// acknowledges events (checking that they arrive gap-free with an intact
// hash chain), signs and sends trusted time, completes payments from a
// small checkout page and answers approval requests. It signs with the
// DEMO operator key, whose private seed is public: never trust that key on
// a real site. Tests use the broker and the operator as the cloud.
//
// It imports cloudsync, the gateway core and its keys; it must not import
// gateway/sqlite, web or drivers.
package demo
