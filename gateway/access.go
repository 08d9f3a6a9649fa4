package gateway

import (
	"crypto/ed25519"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
)

// Channel says where a presentation came from.
type Channel string

const (
	// ChannelScanner is a scanner at the site: presence is proven.
	ChannelScanner Channel = "scanner"
	// ChannelRemote is a phone app or the cloud: presence is checked
	// against the geofence and the key's presence policy.
	ChannelRemote Channel = "remote"
)

// AccessRequest asks whether a presented key may perform Action on
// Resource.
type AccessRequest struct {
	Text     string // QR text as scanned (LG1:… or LGD1:…)
	Resource string // e.g. "gate:exit-1", "locker:A-03"
	Action   Action
	Channel  Channel
	Position *Point // the phone's position, for remote requests
	PIN      string // for remote requests outside the geofence
}

// verified is a presentation whose signature checked out.
type verified struct {
	claims keys.Claims
	proof  *keys.Proof
}

// verifyKey checks everything about a presentation that needs no stored
// state: structure, signature, site, resource, action, time and device
// proof signature. It returns a denial decision (and no error) when the key
// is refused.
func (v *checker) verifyKey(req AccessRequest, now time.Time, trusted time.Time) (verified, Decision) {
	p, err := keys.ParsePresentation(req.Text)
	if err != nil {
		return verified{}, Deny(ReasonMalformed)
	}
	claims, err := keys.Verify(p.Key, v.lookup)
	switch {
	case errors.Is(err, keys.ErrUnknownKID):
		return verified{}, Deny(ReasonUnknownKID)
	case errors.Is(err, keys.ErrBadSignature):
		return verified{}, Deny(ReasonBadSignature)
	case err != nil:
		return verified{}, Deny(ReasonMalformed)
	}
	d := Deny(ReasonOK)
	d.KeyID = claims.KeyID
	denyBecause := func(r Reason, message string) (verified, Decision) {
		d.Reason, d.Message = r, message
		return verified{claims: claims}, d
	}
	deny := func(r Reason) (verified, Decision) { return denyBecause(r, r.Message()) }
	if claims.Site != v.site.ID {
		return deny(ReasonWrongSite)
	}
	if !claims.AllowsResource(req.Resource) {
		return deny(ReasonResourceNotAllowed)
	}
	if !claims.AllowsAction(string(req.Action)) {
		return deny(ReasonActionNotAllowed)
	}
	if timeLimited(claims) && !trusted.IsZero() && now.Before(trusted.Add(-v.site.Policy.ClockSkew)) {
		return deny(ReasonClockUntrusted)
	}
	switch claims.CheckTime(now, v.site.Location, v.site.Policy.ClockSkew) {
	case keys.TimeOK:
	case keys.TimeNotYetValid:
		return deny(ReasonNotYetValid)
	case keys.TimeExpired:
		return deny(ReasonExpired)
	default:
		return deny(ReasonOutsideWindow)
	}
	// A proof attached to a key that is not bound to a device proves
	// nothing: it is neither checked nor recorded.
	var proof *keys.Proof
	if len(claims.DeviceKey) > 0 {
		proof = p.Proof
		if p.Proof == nil {
			return deny(ReasonProofRequired)
		}
		cur := keys.Step(now, v.site.Policy.ProofStep)
		if p.Proof.Step < cur-1 || p.Proof.Step > cur+1 {
			// Stale or future proof: the device must show a fresh one.
			return denyBecause(ReasonProofRequired, "the device proof is too old (or from the future): show the key again from the device")
		}
		if !keys.VerifyProof(claims.DeviceKey, claims.KeyID, *p.Proof) {
			return denyBecause(ReasonBadSignature, "the device proof does not verify: show the key from the device it is bound to")
		}
	}
	d.Allowed, d.Reason, d.Message = true, ReasonOK, ReasonOK.Message()
	return verified{claims: claims, proof: proof}, d
}

// timeLimited reports whether a decision on the key depends on the clock:
// a validity period, windows, or a device proof, whose freshness is judged
// by the clock.
func timeLimited(c keys.Claims) bool {
	return !c.NotBefore.IsZero() || !c.Expires.IsZero() || len(c.Windows) > 0 || len(c.DeviceKey) > 0
}

// presence is the outcome of the presence policy before any stored state
// is consulted.
type presence int

const (
	presenceOK presence = iota
	presenceOutside
	presenceNeedPIN // outside the geofence, policy allows a PIN, PIN given and correct
	presencePINMissing
	presencePINWrong
	presencePINPending // a PIN was given; resolvePIN checks it
)

// checkPresence applies the key's presence policy to a request. A request
// that is not from a scanner at the site is remote: an empty Channel fails
// closed. A PIN is left pending for resolvePIN.
func (v *checker) checkPresence(c keys.Claims, req AccessRequest) presence {
	if req.Channel == ChannelScanner {
		return presenceOK
	}
	policy := c.Presence.Policy
	if policy == "" || policy == "none" {
		return presenceOK
	}
	if req.Position != nil && v.site.Geofence.Contains(*req.Position) {
		return presenceOK
	}
	if policy != "geofence_pin" {
		return presenceOutside
	}
	if req.PIN == "" {
		return presencePINMissing
	}
	return presencePINPending
}

// checker verifies keys against a site's trusted operator keys.
type checker struct {
	site *Site
}

func (v *checker) lookup(kid string) (ed25519.PublicKey, bool) {
	k, ok := v.site.TrustedKeys[kid]
	return k, ok
}

// Contains reports whether p lies inside the geofence. A position that is
// not one (NaN, infinite, latitude beyond ±90°, longitude beyond ±180°) is
// outside: the trigonometry would otherwise fold latitude 412.5 back onto
// 52.5.
func (g Geofence) Contains(p Point) bool {
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
		return false
	}
	if len(g.Polygon) >= 3 {
		return pointInPolygon(p, g.Polygon)
	}
	return haversineM(g.Center, p) <= g.RadiusM
}

// haversineM is the great-circle distance in metres.
func haversineM(a, b Point) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// pointInPolygon is the even-odd ray cast; fine for site-sized polygons
// that do not cross the antimeridian.
func pointInPolygon(p Point, poly []Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) &&
			p.Lon < (b.Lon-a.Lon)*(p.Lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
			in = !in
		}
	}
	return in
}

// credentialKind classifies scanned text.
type credentialKind int

const (
	credKey credentialKind = iota
	credTicket
	credList
)

// TicketPrefix starts the QR text printed on entry tickets.
const TicketPrefix = "LGT1:"

func classify(text string) (credentialKind, string) {
	t := strings.TrimSpace(text)
	up := strings.ToUpper(t)
	switch {
	case strings.HasPrefix(up, keys.Prefix), strings.HasPrefix(up, keys.ProofPrefix):
		return credKey, t
	case strings.HasPrefix(up, TicketPrefix):
		return credTicket, up[len(TicketPrefix):]
	default:
		return credList, t
	}
}
