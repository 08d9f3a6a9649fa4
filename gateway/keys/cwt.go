package keys

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Claim labels. Registered CWT claims (RFC 8392) use their integer labels;
// lotgate's own claims use short text labels. docs/keys.md lists them all.
const (
	labelIss int64 = 1 // iss: tstr
	labelSub int64 = 2 // sub: tstr
	labelExp int64 = 4 // exp: NumericDate (int)
	labelNbf int64 = 5 // nbf: NumericDate (int)
	labelIat int64 = 6 // iat: NumericDate (int)
	labelCti int64 = 7 // cti: bstr, the key ID's UTF-8 bytes
	labelCnf int64 = 8 // cnf: {1: COSE_Key} (RFC 8747)

	labelVersion   = "v"     // uint, Version
	labelSite      = "site"  // tstr
	labelRes       = "res"   // [+ tstr]
	labelAct       = "act"   // [+ tstr]
	labelWin       = "win"   // [+ window]
	labelUses      = "uses"  // uint
	labelNick      = "nick"  // tstr
	labelPres      = "pres"  // presence
	labelNoFee     = "nofee" // true
	infoPrefix     = "x-"    // informational claims, ignored by verifiers
	winFrom        = "from"  // NumericDate
	winUntil       = "until" // NumericDate
	winDays        = "days"  // [+ uint 0..6]
	winTimeOfDay   = "tod"   // [uint DayFrom, uint DayTo]
	presPolicy     = "policy"
	presPINHash    = "pin"
	presPINSalt    = "salt"
	cnfCOSEKey     = 1  // cnf map: COSE_Key
	coseKeyKty     = 1  // COSE_Key: kty
	coseKeyCrv     = -1 // COSE_Key: crv
	coseKeyX       = -2 // COSE_Key: x
	coseKtyOKP     = 1
	coseCrvEd25519 = 6
)

// Limits on decoding untrusted CBOR (the fxamacker minimums are 4, 16, 16).
const (
	maxNesting   = 6
	maxArrayLen  = 128
	maxMapPairs  = 32
	majorUint    = 0
	majorNegInt  = 1
	majorBytes   = 2
	majorText    = 3
	majorArray   = 4
	majorMap     = 5
	cborTrue     = 0xf5
	cborEmptyMap = 0xa0
)

// cborModes are immutable and safe for concurrent use; they are built once.
var cborModes = sync.OnceValues(func() (modes, error) {
	enc, err := cbor.EncOptions{
		Sort:        cbor.SortCoreDeterministic,
		IndefLength: cbor.IndefLengthForbidden,
	}.EncMode()
	if err != nil {
		return modes{}, fmt.Errorf("cbor encoding mode: %w", err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		IntDec:           cbor.IntDecConvertSigned,
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: maxArrayLen,
		MaxMapPairs:      maxMapPairs,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		return modes{}, fmt.Errorf("cbor decoding mode: %w", err)
	}
	return modes{enc: enc, dec: dec}, nil
})

type modes struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

// encodeClaims returns the CWT claims map of c (already validated), in
// deterministic encoding, leaving out absent claims.
func encodeClaims(c Claims) ([]byte, error) {
	m := map[any]any{
		labelVersion: Version,
		labelCti:     []byte(c.KeyID),
		labelSite:    c.Site,
		labelRes:     c.Resources,
		labelAct:     c.Actions,
	}
	if c.Issuer != "" {
		m[labelIss] = c.Issuer
	}
	if c.Holder != "" {
		m[labelSub] = c.Holder
	}
	if c.Nickname != "" {
		m[labelNick] = c.Nickname
	}
	putTime[any](m, labelIat, c.IssuedAt)
	putTime[any](m, labelNbf, c.NotBefore)
	putTime[any](m, labelExp, c.Expires)
	if len(c.Windows) > 0 {
		ws := make([]map[string]any, len(c.Windows))
		for i, w := range c.Windows {
			wm := map[string]any{}
			putTime(wm, winFrom, w.From)
			putTime(wm, winUntil, w.Until)
			if len(w.Weekdays) > 0 {
				days := make([]int, len(w.Weekdays))
				for j, d := range w.Weekdays {
					days[j] = int(d)
				}
				wm[winDays] = days
			}
			if w.DayFrom != 0 || w.DayTo != 0 {
				wm[winTimeOfDay] = []int{w.DayFrom, w.DayTo}
			}
			ws[i] = wm
		}
		m[labelWin] = ws
	}
	if c.Uses != 0 {
		m[labelUses] = c.Uses
	}
	if c.DeviceKey != nil {
		m[labelCnf] = map[int]any{cnfCOSEKey: map[int]any{
			coseKeyKty: coseKtyOKP,
			coseKeyCrv: coseCrvEd25519,
			coseKeyX:   []byte(c.DeviceKey),
		}}
	}
	if p := c.Presence.policy(); p != PresenceNone {
		pm := map[string]any{presPolicy: p}
		if len(c.Presence.PINHash) > 0 {
			pm[presPINHash] = c.Presence.PINHash
			pm[presPINSalt] = c.Presence.PINSalt
		}
		m[labelPres] = pm
	}
	if c.FeeExempt {
		m[labelNoFee] = true
	}
	md, err := cborModes()
	if err != nil {
		return nil, err
	}
	return md.enc.Marshal(m)
}

func putTime[K comparable](m map[K]any, k K, t time.Time) {
	if !t.IsZero() {
		m[k] = t.Unix()
	}
}

// decodeClaims parses a CWT claims map strictly: every claim must have its
// documented type, and unknown claims are refused (except informational
// "x-" ones), so that a claim that restricts a key is never ignored.
func decodeClaims(payload []byte) (Claims, error) {
	var c Claims
	m, err := decodeMap(payload)
	if err != nil {
		return c, fmt.Errorf("claims: %w", err)
	}
	version := int64(-1)
	for k, raw := range m {
		var err error
		switch k {
		case labelVersion:
			version, err = decodeUint(raw)
		case labelIss:
			c.Issuer, err = decodeText(raw)
		case labelSub:
			c.Holder, err = decodeText(raw)
		case labelCti:
			var b []byte
			b, err = decodeBytes(raw)
			c.KeyID = string(b)
		case labelExp:
			c.Expires, err = decodeTime(raw)
		case labelNbf:
			c.NotBefore, err = decodeTime(raw)
		case labelIat:
			c.IssuedAt, err = decodeTime(raw)
		case labelCnf:
			c.DeviceKey, err = decodeCnf(raw)
		case labelSite:
			c.Site, err = decodeText(raw)
		case labelNick:
			c.Nickname, err = decodeText(raw)
		case labelRes:
			c.Resources, err = decodeTextArray(raw)
		case labelAct:
			c.Actions, err = decodeTextArray(raw)
		case labelWin:
			c.Windows, err = decodeWindows(raw)
		case labelUses:
			var n int64
			n, err = decodeUint(raw)
			if err == nil && n > MaxUses {
				err = fmt.Errorf("%d is more than %d", n, MaxUses)
			}
			c.Uses = int(n)
		case labelPres:
			c.Presence, err = decodePresence(raw)
		case labelNoFee:
			c.FeeExempt, err = decodeTrue(raw)
		default:
			if s, ok := k.(string); ok && strings.HasPrefix(s, infoPrefix) {
				continue
			}
			return c, fmt.Errorf("claims: unknown claim %v", labelString(k))
		}
		if err != nil {
			return c, fmt.Errorf("claim %v: %w", labelString(k), err)
		}
	}
	switch version {
	case Version:
	case -1:
		return c, fmt.Errorf("claims: no version (claim %q)", labelVersion)
	default:
		return c, fmt.Errorf("claims: version %d not supported (want %d)", version, Version)
	}
	if c.Presence.Policy == "" {
		c.Presence.Policy = PresenceNone
	}
	return c, nil
}

func labelString(k any) string {
	if s, ok := k.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(k)
}

// decodeMap decodes a CBOR map whose keys are integers or text strings,
// leaving the values raw.
func decodeMap(data []byte) (map[any]cbor.RawMessage, error) {
	if err := expectMajor(data, majorMap, "map"); err != nil {
		return nil, err
	}
	md, err := cborModes()
	if err != nil {
		return nil, err
	}
	var m map[any]cbor.RawMessage
	if err := md.dec.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	for k := range m {
		switch k.(type) {
		case int64, string:
		default:
			return nil, fmt.Errorf("map key %v of type %T: want int or text", k, k)
		}
	}
	return m, nil
}

func expectMajor(data []byte, major byte, name string) error {
	if len(data) == 0 {
		return errors.New("empty")
	}
	if data[0]>>5 != major {
		return fmt.Errorf("want %s, got CBOR major type %d", name, data[0]>>5)
	}
	return nil
}

func unmarshal(data []byte, v any) error {
	md, err := cborModes()
	if err != nil {
		return err
	}
	return md.dec.Unmarshal(data, v)
}

func decodeText(raw []byte) (string, error) {
	if err := expectMajor(raw, majorText, "text"); err != nil {
		return "", err
	}
	var s string
	err := unmarshal(raw, &s)
	return s, err
}

func decodeBytes(raw []byte) ([]byte, error) {
	if err := expectMajor(raw, majorBytes, "bytes"); err != nil {
		return nil, err
	}
	var b []byte
	err := unmarshal(raw, &b)
	return b, err
}

// decodeInt decodes a CBOR integer that fits an int64.
func decodeInt(raw []byte) (int64, error) {
	if len(raw) == 0 || (raw[0]>>5 != majorUint && raw[0]>>5 != majorNegInt) {
		return 0, errors.New("want integer")
	}
	var n int64
	err := unmarshal(raw, &n)
	return n, err
}

func decodeUint(raw []byte) (int64, error) {
	n, err := decodeInt(raw)
	if err == nil && n < 0 {
		err = fmt.Errorf("%d is negative", n)
	}
	return n, err
}

// decodeTime decodes an integer NumericDate (floats are not accepted).
func decodeTime(raw []byte) (time.Time, error) {
	n, err := decodeUint(raw)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}

// decodeTrue accepts only true: a false flag is written by leaving it out,
// so every key has one encoding.
func decodeTrue(raw []byte) (bool, error) {
	if len(raw) != 1 || raw[0] != cborTrue {
		return false, errors.New("want true")
	}
	return true, nil
}

func decodeArray(raw []byte) ([]cbor.RawMessage, error) {
	if err := expectMajor(raw, majorArray, "array"); err != nil {
		return nil, err
	}
	var a []cbor.RawMessage
	err := unmarshal(raw, &a)
	return a, err
}

func decodeTextArray(raw []byte) ([]string, error) {
	a, err := decodeArray(raw)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, r := range a {
		if out[i], err = decodeText(r); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return out, nil
}

func decodeWindows(raw []byte) ([]Window, error) {
	a, err := decodeArray(raw)
	if err != nil {
		return nil, err
	}
	if len(a) == 0 {
		return nil, errors.New("empty list (leave the claim out)")
	}
	out := make([]Window, len(a))
	for i, r := range a {
		if out[i], err = decodeWindow(r); err != nil {
			return nil, fmt.Errorf("window %d: %w", i, err)
		}
	}
	return out, nil
}

func decodeWindow(raw []byte) (Window, error) {
	var w Window
	m, err := decodeMap(raw)
	if err != nil {
		return w, err
	}
	for k, r := range m {
		var err error
		switch k {
		case winFrom:
			w.From, err = decodeTime(r)
		case winUntil:
			w.Until, err = decodeTime(r)
		case winDays:
			var a []cbor.RawMessage
			if a, err = decodeArray(r); err != nil {
				break
			}
			for _, d := range a {
				var n int64
				if n, err = decodeUint(d); err != nil {
					break
				}
				if n > int64(time.Saturday) {
					err = fmt.Errorf("weekday %d: want 0 (Sunday) to 6", n)
					break
				}
				w.Weekdays = append(w.Weekdays, time.Weekday(n))
			}
			if err == nil && len(w.Weekdays) == 0 {
				err = errors.New("empty list (leave it out)")
			}
		case winTimeOfDay:
			var a []cbor.RawMessage
			if a, err = decodeArray(r); err != nil {
				break
			}
			if len(a) != 2 {
				err = fmt.Errorf("%d items; want [from, to]", len(a))
				break
			}
			var from, to int64
			if from, err = decodeUint(a[0]); err != nil {
				break
			}
			if to, err = decodeUint(a[1]); err != nil {
				break
			}
			if from > minutesPerDay || to > minutesPerDay {
				err = fmt.Errorf("[%d, %d]: minutes must be at most %d", from, to, minutesPerDay)
				break
			}
			if from == 0 && to == 0 {
				err = errors.New("[0, 0] (leave it out for all day)")
				break
			}
			w.DayFrom, w.DayTo = int(from), int(to)
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return w, fmt.Errorf("%v: %w", labelString(k), err)
		}
	}
	return w, nil
}

func decodePresence(raw []byte) (Presence, error) {
	var p Presence
	m, err := decodeMap(raw)
	if err != nil {
		return p, err
	}
	for k, r := range m {
		var err error
		switch k {
		case presPolicy:
			p.Policy, err = decodeText(r)
		case presPINHash:
			p.PINHash, err = decodeBytes(r)
		case presPINSalt:
			p.PINSalt, err = decodeBytes(r)
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return p, fmt.Errorf("%v: %w", labelString(k), err)
		}
	}
	switch p.Policy {
	case "":
		return p, errors.New("no policy")
	case PresenceNone:
		return p, errors.New(`policy "none" is written by leaving the claim out`)
	}
	return p, nil
}

// decodeCnf decodes {1: {1: 1, -1: 6, -2: x}}: an Ed25519 OKP COSE_Key,
// nothing else.
func decodeCnf(raw []byte) ([]byte, error) {
	m, err := decodeMap(raw)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 || m[int64(cnfCOSEKey)] == nil {
		return nil, errors.New("want {1: COSE_Key}")
	}
	k, err := decodeMap(m[int64(cnfCOSEKey)])
	if err != nil {
		return nil, fmt.Errorf("COSE_Key: %w", err)
	}
	if len(k) != 3 {
		return nil, fmt.Errorf("COSE_Key has %d parameters; want kty, crv and x", len(k))
	}
	if kty, err := decodeInt(k[int64(coseKeyKty)]); err != nil || kty != coseKtyOKP {
		return nil, errors.New("COSE_Key: kty must be 1 (OKP)")
	}
	if crv, err := decodeInt(k[int64(coseKeyCrv)]); err != nil || crv != coseCrvEd25519 {
		return nil, errors.New("COSE_Key: crv must be 6 (Ed25519)")
	}
	x, err := decodeBytes(k[int64(coseKeyX)])
	if err != nil {
		return nil, fmt.Errorf("COSE_Key: x: %w", err)
	}
	if len(x) != devicePublicLen {
		return nil, fmt.Errorf("COSE_Key: x has %d bytes; want %d", len(x), devicePublicLen)
	}
	return x, nil
}
