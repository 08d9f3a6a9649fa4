// Package keys is lotgate's key format: CBOR Web Tokens (RFC 8392) signed as
// COSE_Sign1 with EdDSA/Ed25519, their QR text forms ("LG1:" for a key,
// "LGD1:" for a key with a fresh device proof), and the checks that need
// nothing but the key itself (resources, actions, time windows, PINs).
// docs/keys.md is the contract; this package is its reference implementation.
//
// Gateways only Verify; Sign exists for the operator's key server, the CLI
// and tests. Decisions that need state (revocation, use counts, replayed
// proofs, anti-passback, the site's trusted clock) belong to the core.
//
// It must not import github.com/lotgate/lotgate/gateway (the core imports
// it); it imports only the standard library, gateway/base45, go-cose,
// fxamacker/cbor and golang.org/x/crypto.
package keys

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Version is the claims format version this package writes and the only one
// it reads (claim "v").
const Version = 1

// Errors of Verify and ParsePresentation, always wrapped with detail; test
// them with errors.Is. They map to the core's reasons malformed,
// unknown_kid and bad_signature.
var (
	// ErrMalformed: not a key of this format (bad text, bad CBOR, wrong
	// structure, a claim of the wrong type, an unknown claim or version,
	// claims that break the rules Sign enforces).
	ErrMalformed = errors.New("malformed key")
	// ErrUnknownKID: the kid header is missing or names an operator key
	// the caller does not trust.
	ErrUnknownKID = errors.New("unknown operator key id")
	// ErrBadSignature: the algorithm is not EdDSA, or the signature does
	// not verify with the operator key kid names.
	ErrBadSignature = errors.New("bad signature")
	// ErrInvalidClaims: Sign (or Claims.Validate) refused the claims.
	ErrInvalidClaims = errors.New("invalid claims")
)

// Actions a key may allow. They match gateway.Action's values.
const (
	ActionEnter  = "enter"
	ActionExit   = "exit"
	ActionOpen   = "open"
	ActionUnlock = "unlock"
	ActionLock   = "lock"
)

// Presence policies (Presence.Policy) for remote requests, which carry the
// phone's position. The core enforces them.
const (
	// PresenceNone: no location rule.
	PresenceNone = "none"
	// PresenceGeofence: a remote request must come from inside the site's
	// geofence; outside it is refused.
	PresenceGeofence = "geofence"
	// PresenceGeofencePIN: inside the geofence the key is enough; outside
	// it the holder's PIN is required.
	PresenceGeofencePIN = "geofence_pin"
)

// Limits enforced by Validate (and so by Sign and Verify).
const (
	MaxIDLen        = 64  // KeyID, kid, Site, Holder, Issuer, Nickname: bytes
	MaxResourceLen  = 128 // one resource pattern: bytes
	MaxResources    = 64
	MaxWindows      = 32
	MaxUses         = 1_000_000
	MinPINSaltLen   = 16
	MaxPINSaltLen   = 64
	minutesPerDay   = 24 * 60
	pinHashLen      = 32
	devicePublicLen = ed25519.PublicKeySize
)

// Claims are what a key says. Times have second precision; Verify returns
// them in UTC. A zero time means the claim is absent.
type Claims struct {
	KeyID    string // cti (7): the key's unique ID; revocations and use counts refer to it
	Issuer   string // iss (1): the key server, optional
	Holder   string // sub (2): the holder's account ID, optional
	Nickname string // "nick": the name a delegate asks for, optional
	Site     string // "site": the site ID the key is for

	// Resources are resource IDs or patterns ("gate:exit-1", "locker:A-*",
	// "*"); see AllowsResource.
	Resources []string
	// Actions are among enter, exit, open, unlock, lock.
	Actions []string
	// Windows restrict when the key works, in site-local time; empty means
	// no restriction beyond NotBefore/Expires. See CheckTime.
	Windows []Window
	// Uses is how many times the key may be used: 0 unlimited, 1
	// single-use, n at most n times. The core counts.
	Uses int
	// DeviceKey binds the key to the holder's device: it is then valid only
	// with a fresh proof signed by this key (see Proof). nil = not bound.
	DeviceKey ed25519.PublicKey
	Presence  Presence
	// FeeExempt waives parking fees for sessions opened with this key.
	FeeExempt bool

	IssuedAt  time.Time // iat (6)
	NotBefore time.Time // nbf (5)
	Expires   time.Time // exp (4)
}

// Window is a period in which a key works. All conditions must hold.
type Window struct {
	// From and Until bound the window absolutely: From <= t < Until. Zero
	// means open on that side.
	From, Until time.Time
	// Weekdays the window applies to; empty means every day. A window that
	// wraps midnight belongs to the weekday it starts on.
	Weekdays []time.Weekday
	// DayFrom and DayTo are minutes after local midnight (0..1439 and
	// 0..1440): DayFrom <= minute-of-day < DayTo. Both 0 means all day.
	// DayTo < DayFrom wraps midnight (22:00-06:00 is 1320, 360).
	DayFrom, DayTo int
}

// Presence is the key's rule for remote requests (see the Presence*
// constants). PINHash and PINSalt are set only for PresenceGeofencePIN;
// PINHash is HashPIN(pin, PINSalt).
type Presence struct {
	Policy           string
	PINHash, PINSalt []byte
}

// policy returns p.Policy with "" meaning PresenceNone.
func (p Presence) policy() string {
	if p.Policy == "" {
		return PresenceNone
	}
	return p.Policy
}

// Validate checks the rules every key must follow: a key ID and a site, at
// least one resource and one action, known actions, sane windows, times and
// presence. Sign calls it; Verify applies it to what it decodes. Errors wrap
// ErrInvalidClaims.
func (c Claims) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	return nil
}

func (c Claims) validate() error {
	if err := checkID("key id", c.KeyID, true); err != nil {
		return err
	}
	if err := checkID("site", c.Site, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"issuer", c.Issuer}, {"holder", c.Holder}, {"nickname", c.Nickname}} {
		if err := checkID(f.name, f.v, false); err != nil {
			return err
		}
	}
	if len(c.Resources) == 0 {
		return errors.New("no resources")
	}
	if len(c.Resources) > MaxResources {
		return fmt.Errorf("%d resources, more than %d", len(c.Resources), MaxResources)
	}
	for _, r := range c.Resources {
		if r == "" || len(r) > MaxResourceLen || !utf8.ValidString(r) || strings.ContainsFunc(r, unicode.IsSpace) || strings.ContainsFunc(r, unicode.IsControl) {
			return fmt.Errorf("resource %q: want 1 to %d printable characters without spaces", r, MaxResourceLen)
		}
	}
	if len(c.Actions) == 0 {
		return errors.New("no actions")
	}
	for i, a := range c.Actions {
		switch a {
		case ActionEnter, ActionExit, ActionOpen, ActionUnlock, ActionLock:
		default:
			return fmt.Errorf("unknown action %q (want enter, exit, open, unlock or lock)", a)
		}
		if slices.Contains(c.Actions[:i], a) {
			return fmt.Errorf("action %q listed twice", a)
		}
	}
	if len(c.Windows) > MaxWindows {
		return fmt.Errorf("%d windows, more than %d", len(c.Windows), MaxWindows)
	}
	for i, w := range c.Windows {
		if err := w.validate(); err != nil {
			return fmt.Errorf("window %d: %w", i, err)
		}
	}
	if c.Uses < 0 || c.Uses > MaxUses {
		return fmt.Errorf("uses %d: want 0 (unlimited) to %d", c.Uses, MaxUses)
	}
	if c.DeviceKey != nil && len(c.DeviceKey) != devicePublicLen {
		return fmt.Errorf("device key has %d bytes; want %d", len(c.DeviceKey), devicePublicLen)
	}
	if err := c.Presence.validate(); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"issued at", c.IssuedAt}, {"not before", c.NotBefore}, {"expires", c.Expires}} {
		if !f.t.IsZero() && f.t.Unix() < 0 {
			return fmt.Errorf("%s %v is before 1970", f.name, f.t)
		}
	}
	if !c.NotBefore.IsZero() && !c.Expires.IsZero() && c.NotBefore.Unix() >= c.Expires.Unix() {
		return fmt.Errorf("not before %v is not before expires %v", c.NotBefore, c.Expires)
	}
	return nil
}

func (w Window) validate() error {
	if !w.From.IsZero() && w.From.Unix() < 0 {
		return fmt.Errorf("from %v is before 1970", w.From)
	}
	if !w.Until.IsZero() && w.Until.Unix() < 0 {
		return fmt.Errorf("until %v is before 1970", w.Until)
	}
	if !w.From.IsZero() && !w.Until.IsZero() && w.From.Unix() >= w.Until.Unix() {
		return fmt.Errorf("from %v is not before until %v", w.From, w.Until)
	}
	for i, d := range w.Weekdays {
		if d < time.Sunday || d > time.Saturday {
			return fmt.Errorf("weekday %d: want 0 (Sunday) to 6", d)
		}
		if slices.Contains(w.Weekdays[:i], d) {
			return fmt.Errorf("weekday %v listed twice", d)
		}
	}
	if w.DayFrom < 0 || w.DayFrom >= minutesPerDay {
		return fmt.Errorf("day from %d: want 0 to %d minutes", w.DayFrom, minutesPerDay-1)
	}
	if w.DayTo < 0 || w.DayTo > minutesPerDay {
		return fmt.Errorf("day to %d: want 0 to %d minutes", w.DayTo, minutesPerDay)
	}
	if w.DayFrom == w.DayTo && w.DayFrom != 0 {
		return fmt.Errorf("day from and day to are both %d: use 0, 0 for all day", w.DayFrom)
	}
	return nil
}

func (p Presence) validate() error {
	switch p.policy() {
	case PresenceNone, PresenceGeofence:
		if len(p.PINHash) != 0 || len(p.PINSalt) != 0 {
			return fmt.Errorf("policy %q carries a PIN hash or salt", p.policy())
		}
	case PresenceGeofencePIN:
		if len(p.PINHash) != pinHashLen {
			return fmt.Errorf("policy %q: PIN hash has %d bytes; want %d (HashPIN)", p.Policy, len(p.PINHash), pinHashLen)
		}
		if len(p.PINSalt) < MinPINSaltLen || len(p.PINSalt) > MaxPINSaltLen {
			return fmt.Errorf("policy %q: PIN salt has %d bytes; want %d to %d", p.Policy, len(p.PINSalt), MinPINSaltLen, MaxPINSaltLen)
		}
	default:
		return fmt.Errorf("unknown policy %q (want none, geofence or geofence_pin)", p.Policy)
	}
	return nil
}

// checkID checks an identifier-like string: at most MaxIDLen bytes of valid
// UTF-8 with no control characters; required ones must not be empty.
func checkID(name, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("no %s", name)
		}
		return nil
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%s has %d bytes, more than %d", name, len(s), MaxIDLen)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s %q: want valid UTF-8 without control characters", name, s)
	}
	return nil
}
