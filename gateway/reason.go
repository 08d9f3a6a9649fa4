package gateway

// Reason is the stable code of a decision. Codes are part of the contract
// (events, HTTP and MQTT replies) and never change meaning.
type Reason string

const (
	ReasonOK Reason = "ok"

	// Key verification.
	ReasonBadSignature       Reason = "bad_signature"
	ReasonUnknownKID         Reason = "unknown_kid"
	ReasonMalformed          Reason = "malformed"
	ReasonWrongSite          Reason = "wrong_site"
	ReasonResourceNotAllowed Reason = "resource_not_allowed"
	ReasonActionNotAllowed   Reason = "action_not_allowed"
	ReasonNotYetValid        Reason = "not_yet_valid"
	ReasonExpired            Reason = "expired"
	ReasonOutsideWindow      Reason = "outside_window"
	ReasonRevoked            Reason = "revoked"
	ReasonUsedUp             Reason = "used_up"
	ReasonPassback           Reason = "passback"
	ReasonProofRequired      Reason = "proof_required"
	ReasonProofReplayed      Reason = "proof_replayed"
	ReasonOutsideGeofence    Reason = "outside_geofence"
	ReasonPINRequired        Reason = "pin_required"
	ReasonPINWrong           Reason = "pin_wrong"
	ReasonPINLocked          Reason = "pin_locked"
	ReasonClockUntrusted     Reason = "clock_untrusted"

	// Local list credentials.
	ReasonUnknownCredential Reason = "unknown_credential"
	ReasonBlocked           Reason = "blocked"

	// Sessions, entry and exit.
	ReasonPaymentDue    Reason = "payment_due"
	ReasonNoSession     Reason = "no_session"
	ReasonSiteFull      Reason = "site_full"
	ReasonSiteClosed    Reason = "site_closed"
	ReasonUnknownDevice Reason = "unknown_device"
	ReasonFireAlarm     Reason = "fire_alarm"
	ReasonOverride      Reason = "override"
	ReasonNoVehicle     Reason = "no_vehicle"
	ReasonDeviceOffline Reason = "device_offline"
	// ReasonUnknownResource: the request names a gate, locker, door or
	// space this site does not have.
	ReasonUnknownResource Reason = "unknown_resource"
	ReasonWrongLane       Reason = "wrong_lane"
	// ReasonAlreadyAdmitted: the barrier is already open for the car on
	// the loop (a second ticket for the same car).
	ReasonAlreadyAdmitted Reason = "already_admitted"
)

var reasonText = map[Reason]string{
	ReasonOK:                 "allowed",
	ReasonBadSignature:       "the key's signature does not verify",
	ReasonUnknownKID:         "the key was signed by an operator key this site does not trust",
	ReasonMalformed:          "the code is not a readable key",
	ReasonWrongSite:          "the key is for another site",
	ReasonResourceNotAllowed: "the key does not open this",
	ReasonActionNotAllowed:   "the key does not allow this action",
	ReasonNotYetValid:        "the key is not valid yet",
	ReasonExpired:            "the key has expired",
	ReasonOutsideWindow:      "the key is not valid at this day or time",
	ReasonRevoked:            "the key has been revoked",
	ReasonUsedUp:             "the key has no uses left",
	ReasonPassback:           "the key already entered and has not exited",
	ReasonProofRequired:      "the key is bound to a device; show it from that device",
	ReasonProofReplayed:      "this device proof was already used",
	ReasonOutsideGeofence:    "you are not at the site",
	ReasonPINRequired:        "a PIN is required away from the site",
	ReasonPINWrong:           "the PIN is wrong",
	ReasonPINLocked:          "too many wrong PINs; try again later",
	ReasonClockUntrusted:     "the gateway cannot trust its clock, so time-limited keys are refused",
	ReasonUnknownCredential:  "this card or plate is not known",
	ReasonBlocked:            "this card or plate is blocked",
	ReasonPaymentDue:         "there is a fee to pay",
	ReasonNoSession:          "no parking session found",
	ReasonSiteFull:           "the site is full",
	ReasonSiteClosed:         "the site is closed",
	ReasonUnknownDevice:      "unknown device",
	ReasonFireAlarm:          "fire alarm: exits held open",
	ReasonOverride:           "attendant override",
	ReasonNoVehicle:          "no vehicle at the lane",
	ReasonDeviceOffline:      "a device needed for this is offline; please call the attendant",
	ReasonUnknownResource:    "this site has no such gate, locker, door or space",
	ReasonWrongLane:          "this code cannot be used at this lane",
	ReasonAlreadyAdmitted:    "the barrier is already open for this car: please drive on",
}

// Message is the human-readable text of the reason.
func (r Reason) Message() string {
	if m, ok := reasonText[r]; ok {
		return m
	}
	return string(r)
}

// Decision is the outcome of an access, entry or exit request. A denial is a
// decision, not an error.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
	// Seq is the sequence number of the event that recorded the decision
	// (0 when the decision was only checked, not recorded).
	Seq uint64 `json:"seq,omitempty"`
	// Due is the amount still due (minor units) when Reason is payment_due.
	Due       int64  `json:"due,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
}

// Allow and Deny build decisions.
func Allow() Decision        { return Decision{Allowed: true, Reason: ReasonOK, Message: ReasonOK.Message()} }
func Deny(r Reason) Decision { return Decision{Reason: r, Message: r.Message()} }

// DenyBecause is Deny with a message more precise than the reason's
// usual one (the code stays the same).
func DenyBecause(r Reason, message string) Decision { return Decision{Reason: r, Message: message} }
func (d Decision) String() string {
	if d.Allowed {
		return "allowed (" + string(d.Reason) + ")"
	}
	return "denied: " + string(d.Reason) + ": " + d.Message
}
