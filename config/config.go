// Package config reads a lotgate site file (YAML) into a validated
// *gateway.Site plus the settings cmd/lotgate needs to wire the process
// (store, cloud, HTTP, log, per-device driver settings).
//
// Loading is strict: a required "version: 1", unknown keys refused, and
// every problem collected and reported as "file:line: field.path: message".
// The steps are: decode (filling defaults for absent keys), normalise
// (resolve the time zone, the store path and the profiles directory, and
// read the Modbus device profiles the devices name), validate (references
// between sections, duplicate IDs, tariff coverage, driver settings against
// buses and profiles). Parsing reads those profile files and has no other
// side effects: nothing is created, opened or connected.
// docs/configuration.md is the reference for the file format.
//
// It imports the gateway core and go.yaml.in/yaml/v3, and must not import
// drivers, cloudsync, web or gateway/sqlite: cmd/lotgate wires those from
// a *File.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "time/tzdata" // a Pi without /usr/share/zoneinfo still knows Europe/Berlin

	"go.yaml.in/yaml/v3"

	"github.com/lotgate/lotgate/gateway"
)

// Version is the config file version this lotgate reads.
const Version = 1

// maxFileSize bounds what Load reads; a site file is a few kilobytes.
const maxFileSize = 4 << 20

// File is a loaded, validated site file.
type File struct {
	// Name is the file name given to Load or Parse.
	Name string
	// Site is the validated site model handed to the core.
	Site *gateway.Site
	// Devices holds each device's driver settings, by device ID; every
	// device in Site.Devices has an entry.
	Devices map[string]DeviceConfig
	// Buses are the Modbus lines (buses:), in file order.
	Buses []Bus
	// ProfilesDir is where Modbus device profiles are read from
	// (profiles_dir:, default "devices" next to the site file).
	ProfilesDir string
	// Profiles are the device profiles the Modbus devices use, by name.
	Profiles map[string]*Profile
	Store    Store
	Cloud    Cloud
	HTTP     HTTP
	Log      Log
}

// Store is where the gateway keeps its state.
type Store struct {
	// Path is the SQLite database file. A relative path in the file is
	// resolved against the config file's directory; ":memory:" is kept
	// as is. Default "lotgate.db".
	Path string
}

// Cloud modes.
const (
	CloudDemo = "demo" // the built-in demo cloud: embedded broker and simulated operator
	CloudMQTT = "mqtt" // a real operator cloud over MQTT
	CloudOff  = "off"  // no cloud: events queue in the outbox, nothing syncs
)

// Cloud is how the gateway reaches the operator's cloud.
type Cloud struct {
	Mode          string // CloudDemo, CloudMQTT or CloudOff; required
	CloudSettings        // the rest of the section: cloud.go
}

// HTTP is the web server's settings.
type HTTP struct {
	Listen string // host:port; default "127.0.0.1:8080"
}

// Log is the logging settings.
type Log struct {
	Level string // debug, info, warn or error; default "info"
}

// SlogLevel returns the level as a slog.Level (info for unknown text,
// which a loaded File never holds).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Defaults for keys that may be left out. docs/configuration.md lists them.
const (
	DefaultStorePath  = "lotgate.db"
	DefaultListen     = "127.0.0.1:8080"
	DefaultLogLevel   = "info"
	DefaultDriver     = DriverSim
	DefaultRaiseAfter = 60 * time.Second
	DefaultEmptyFor   = 30 * time.Second
	// DefaultExitGraceMinutes is the tariff's exit grace when left out.
	DefaultExitGraceMinutes = 15
)

// DefaultPolicy returns the policy used for every key of "policy:" that
// the file leaves out.
func DefaultPolicy() gateway.Policy {
	return gateway.Policy{
		ClockSkew:          2 * time.Minute,
		QuoteHold:          10 * time.Minute,
		CheckoutTimeout:    10 * time.Minute,
		ReservationEarly:   15 * time.Minute,
		ReservationLate:    30 * time.Minute,
		BarrierOpenTimeout: 30 * time.Second,
		UnlockFor:          5 * time.Second,
		DoorOpenAlarm:      60 * time.Second,
		ProofStep:          30 * time.Second,
		PINMaxAttempts:     5,
		PINLockout:         15 * time.Minute,
		// Long enough for a flap lock's motor to travel and its down
		// switch to confirm (a few seconds), with the bus exchanges.
		ActuatorTimeout: 10 * time.Second,
	}
}

// Load reads and parses the site file at path. A file that cannot be read
// is a plain error; an invalid file returns Problems.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes; is this a site file?", maxFileSize)}}
	}
	return Parse(path, data)
}

// Parse parses a site file's content. name is used in problem messages
// and, through its directory, to resolve a relative store path. Parse has
// no side effects. When the file is invalid the error is a Problems with
// every problem found, in file order, and the *File is nil.
func Parse(name string, data []byte) (*File, error) {
	d := newDecoder(name)
	root, ok := d.document(data)
	if !ok {
		return nil, d.probs
	}
	f := d.decodeFile(root)
	if f != nil {
		d.normalise(f, filepath.Dir(name))
		d.validate(f)
	}
	if len(d.probs)+len(d.extra) > 0 {
		d.probs.sort()
		return nil, append(d.probs, d.extra...)
	}
	return f, nil
}

// document decodes data as exactly one YAML document whose root is a
// mapping.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(0, "", "empty file; a site file starts with \"version: %d\"", Version)
		} else {
			d.yamlError(err, data)
		}
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(extra.Line, "", "more than one YAML document (---); a site file is one document")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err, data)
		return nil, false
	}
	if len(doc.Content) == 0 {
		d.errorf(0, "", "empty file; a site file starts with \"version: %d\"", Version)
		return nil, false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "must be a mapping (key: value) starting with \"version: %d\", got %s", Version, describe(root))
		return nil, false
	}
	d.checkAliases(root)
	return root, true
}

// yamlError turns a syntax error from the YAML parser into problems,
// keeping its line numbers. YAML forbids tabs in indentation, and the
// parser's message for one is vague and often lines away ("did not find
// expected key" at the start of the enclosing mapping): when data indents
// a line with a tab, the problem is told at that line instead, with the
// parser's words after it.
func (d *decoder) yamlError(err error, data []byte) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			d.syntax(msg)
		}
		return
	}
	if line := tabIndentedLine(data); line > 0 {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		d.errorf(line, "", "YAML syntax: tabs are not allowed for indentation; indent with spaces (the parser said: %s)", msg)
		return
	}
	d.syntax(err.Error())
}

// tabIndentedLine returns the number of the first line whose leading
// whitespace holds a tab (blank lines aside), or 0. A tab before a comment
// counts: the parser refuses it too.
func tabIndentedLine(data []byte) int {
	for i, line := range strings.Split(string(data), "\n") {
		rest := strings.TrimLeft(line, " \t")
		if rest == "" || rest == "\r" {
			continue
		}
		if strings.ContainsRune(line[:len(line)-len(rest)], '\t') {
			return i + 1
		}
	}
	return 0
}

// syntax reports one parser message, which looks like
// "yaml: line 3: mapping values are not allowed in this context".
func (d *decoder) syntax(msg string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			d.errorf(line, "", "YAML syntax: %s", text)
			return
		}
	}
	d.errorf(0, "", "YAML syntax: %s", msg)
}
