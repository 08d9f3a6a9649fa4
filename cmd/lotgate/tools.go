package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// newFlags returns a flag set that reports errors as usage errors.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: lotgate %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; -h is not an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: ExitOK}
		}
		return &exitError{code: ExitUsage, err: err}
	}
	return nil
}

// loadConfig loads a site file; problems exit with ExitConfig.
func loadConfig(path string) (*config.File, error) {
	if path == "" {
		return nil, usageErr("--config is required")
	}
	f, err := config.Load(path)
	if err != nil {
		return nil, &exitError{code: ExitConfig, err: err}
	}
	return f, nil
}

// cmdCheckConfig checks site files and prints every problem.
func cmdCheckConfig(e *env, args []string) error {
	fs := newFlags(e, "check-config", "check-config FILE...")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErr("check-config needs at least one file")
	}
	bad := 0
	for _, path := range fs.Args() {
		f, err := config.Load(path)
		if err != nil {
			bad++
			var ps config.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					fmt.Fprintln(e.stdout, p.String())
				}
				fmt.Fprintf(e.stdout, "%s: %d problem(s)\n", path, len(ps))
			} else {
				fmt.Fprintf(e.stdout, "%s: %v\n", path, err)
			}
			continue
		}
		s := f.Site
		compartments := 0
		for _, l := range s.Lockers {
			compartments += len(l.Compartments)
		}
		fmt.Fprintf(e.stdout, "%s: ok: site %s (%s), %d devices, %d lanes, %d spaces, %d compartments, %d doors, tariff %s\n",
			path, s.ID, s.TimeZone, len(s.Devices), len(s.Lanes), len(s.Spaces), compartments, len(s.Doors), tariffVersion(s))
	}
	if bad > 0 {
		return &exitError{code: ExitConfig}
	}
	return nil
}

func tariffVersion(s *gateway.Site) string {
	if s.Tariff == nil {
		return "(none)"
	}
	return s.Tariff.Version
}

// parseTime reads RFC 3339, or a local "2006-01-02 15:04[:05]" in loc. A
// local time the clocks skip (spring forward) or show twice (fall back) is
// refused: which instant was meant cannot be guessed, and RFC 3339 with an
// offset says it.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		wall, err := time.Parse(layout, s) // the wall clock, as if in UTC
		if err != nil {
			continue
		}
		switch at := localInstants(wall, loc); len(at) {
		case 1:
			return at[0], nil
		case 0:
			return time.Time{}, fmt.Errorf("time %q does not exist in %s (the clocks skip it); give an instant with its UTC offset, e.g. %q",
				s, loc, time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc).Format(time.RFC3339))
		default:
			return time.Time{}, fmt.Errorf("time %q occurs twice in %s (the clocks go back); give its UTC offset: %q or %q",
				s, loc, at[0].Format(time.RFC3339), at[1].Format(time.RFC3339))
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 or \"2006-01-02 15:04\" (site-local)", s)
}

// localInstants returns the instants, in time order, at which loc's wall
// clock shows wall (read as if in UTC): none in a gap, two in an overlap,
// otherwise one. UTC offsets lie within ±15 h, so only the zone periods
// within that of wall are tried, each with its own offset.
func localInstants(wall time.Time, loc *time.Location) []time.Time {
	const reach = 16 * time.Hour
	var out []time.Time
	for at := wall.Add(-reach); at.Before(wall.Add(reach)); {
		z := at.In(loc)
		_, off := z.Zone()
		start, end := z.ZoneBounds()
		u := wall.Add(-time.Duration(off) * time.Second).In(loc)
		inPeriod := (start.IsZero() || !u.Before(start)) && (end.IsZero() || u.Before(end))
		if inPeriod && u.Format(time.DateTime) == wall.Format(time.DateTime) &&
			(len(out) == 0 || !out[len(out)-1].Equal(u)) {
			out = append(out, u)
		}
		if end.IsZero() || !end.After(at) {
			break
		}
		at = end
	}
	return out
}

// remotePosition checks keys check's --lat, --lon and --pin against
// --remote and returns the phone's position (nil when not given). A
// coordinate without --remote, one without the other, or one out of range
// is a usage error: taken silently, it would decide about another request
// than the one the operator meant (lat 0 for a missing --lat is a real
// place).
func remotePosition(fs *flag.FlagSet, remote bool, lat, lon float64) (*gateway.Point, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !remote {
		for _, name := range []string{"lat", "lon", "pin"} {
			if set[name] {
				return nil, usageErr("--%s applies to a remote request; add --remote", name)
			}
		}
		return nil, nil
	}
	switch {
	case set["lat"] != set["lon"] && set["lat"]:
		return nil, usageErr("--lat needs --lon")
	case set["lat"] != set["lon"]:
		return nil, usageErr("--lon needs --lat")
	case !set["lat"]:
		return nil, nil
	case !(lat >= -90 && lat <= 90):
		return nil, usageErr("--lat %v is out of range: want -90 to 90", lat)
	case !(lon >= -180 && lon <= 180):
		return nil, usageErr("--lon %v is out of range: want -180 to 180", lon)
	}
	return &gateway.Point{Lat: lat, Lon: lon}, nil
}

// maxFeeStay is the longest stay `lotgate fee` computes: a year and a day.
// Longer stays are a typing mistake (an exit in 9999), and their breakdown
// would be too long to read.
const maxFeeStay = 366 * 24 * time.Hour

// feeJSON is the --json form of `lotgate fee`: the breakdown's lines, each
// a run of Count identical units (see tariff.Unit). Lines and UnitCount
// cover every unit unless UnlistedUnits > 0 (more than tariff.MaxLines
// lines; the total includes them).
type feeJSON struct {
	Tariff        string     `json:"tariff_version"`
	Currency      string     `json:"currency"`
	Entry         time.Time  `json:"entry"`
	Exit          time.Time  `json:"exit"`
	Minutes       int64      `json:"minutes"`
	Free          bool       `json:"free"`
	Total         int64      `json:"total"`
	UnitCount     int64      `json:"unit_count"`
	UnlistedUnits int64      `json:"unlisted_units"`
	Lines         []lineJSON `json:"lines"`
}

type lineJSON struct {
	Start    time.Time `json:"start"` // the first unit's start
	End      time.Time `json:"end"`   // the last unit's end
	Count    int64     `json:"count"`
	Band     string    `json:"band"`
	Price    int64     `json:"price"`    // per unit
	Charged  int64     `json:"charged"`  // per unit
	Subtotal int64     `json:"subtotal"` // count × charged
	CappedBy []string  `json:"capped_by,omitempty"`
}

// cmdFee prints the fee of a stay line by line (a line is a run of
// identical units), so an installer can check the tariff against the sign
// at the entrance.
func cmdFee(e *env, args []string) error {
	fs := newFlags(e, "fee", "fee --config FILE --entry T --exit T [--json]")
	cfg := fs.String("config", "", "site file")
	entry := fs.String("entry", "", "entry time")
	exit := fs.String("exit", "", "exit time (at most 366 days after --entry)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *entry == "" || *exit == "" {
		fs.Usage()
		return usageErr("fee needs --entry and --exit")
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	t := f.Site.Tariff
	if t == nil {
		return &exitError{code: ExitConfig, err: fmt.Errorf("%s has no tariff", *cfg)}
	}
	in, err := parseTime(*entry, f.Site.Location)
	if err != nil {
		return usageErr("--entry: %v", err)
	}
	out, err := parseTime(*exit, f.Site.Location)
	if err != nil {
		return usageErr("--exit: %v", err)
	}
	if out.Before(in) {
		return usageErr("--exit %s is before --entry %s", *exit, *entry)
	}
	// Compared as an instant, not with Sub: a Duration saturates at 292
	// years, but an instant 366 days after the entry is exact.
	if out.After(in.Add(maxFeeStay)) {
		return usageErr("--exit %s is more than 366 days after --entry %s; lotgate fee computes stays of up to 366 days", *exit, *entry)
	}
	b := t.Fee(in, out)
	var units int64
	for _, u := range b.Units {
		units += u.Count
	}
	units += b.Unlisted
	if *asJSON {
		j := feeJSON{Tariff: b.Version, Currency: b.Currency, Entry: b.Entry, Exit: b.Exit,
			Minutes: int64(out.Sub(in) / time.Minute), Free: b.Free, Total: b.Total,
			UnitCount: units, UnlistedUnits: b.Unlisted, Lines: []lineJSON{}}
		for _, u := range b.Units {
			j.Lines = append(j.Lines, lineJSON{u.Start, u.End, u.Count, u.Band, u.Price, u.Charged, u.Count * u.Charged, u.CappedBy})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	fmt.Fprintf(e.stdout, "tariff %s, %s\n", b.Version, b.Currency)
	fmt.Fprintf(e.stdout, "stay   %s → %s (%s)\n", b.Entry.Format("Mon 2006-01-02 15:04 MST"), b.Exit.Format("Mon 2006-01-02 15:04 MST"), out.Sub(in).Round(time.Second))
	if b.Free {
		fmt.Fprintf(e.stdout, "free   (at most %d minutes)\n", t.FreeMinutes)
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "start\tend\tunits\tband\tprice\tcharged\tsubtotal\tcapped by")
		for _, u := range b.Units {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", u.Start.Format("01-02 15:04 MST"), u.End.Format("01-02 15:04 MST"),
				u.Count, u.Band, money(u.Price), money(u.Charged), money(u.Count*u.Charged), strings.Join(u.CappedBy, ", "))
		}
		tw.Flush()
		if b.Unlisted > 0 {
			fmt.Fprintf(e.stdout, "…      %d more units not listed (the total includes them)\n", b.Unlisted)
		}
	}
	fmt.Fprintf(e.stdout, "total  %s %s (%d units)\n", money(b.Total), b.Currency, units)
	return nil
}

// money formats minor units with two decimals.
func money(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// cmdKeys dispatches the key tools.
func cmdKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("keys needs a subcommand: keygen, issue or check")
	}
	switch args[0] {
	case "keygen":
		return cmdKeygen(e, args[1:])
	case "issue":
		return cmdIssue(e, args[1:])
	case "check":
		return cmdKeyCheck(ctx, e, args[1:])
	}
	return usageErr("unknown keys subcommand %q; want keygen, issue or check", args[0])
}

// cmdKeygen makes an operator key pair. With --seed-file the seed goes to
// that new file only (it is never printed); without, it is printed.
func cmdKeygen(e *env, args []string) error {
	fs := newFlags(e, "keys keygen", "keys keygen [--seed-file FILE]")
	seedFile := fs.String("seed-file", "", "write the private seed to this new file (mode 0600) instead of printing it; an existing file is never overwritten")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	kid, pub, priv, err := keys.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate operator key: %w", err)
	}
	seed := keys.EncodePrivateKey(priv)
	if *seedFile != "" {
		if err := writeNewSecret(*seedFile, []byte(seed+"\n")); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "kid: %s\npublic_key: %s\nseed_file: %s\n", kid, keys.EncodePublicKey(pub), *seedFile)
	} else {
		fmt.Fprintf(e.stdout, "kid: %s\npublic_key: %s\nprivate_seed: %s\n", kid, keys.EncodePublicKey(pub), seed)
	}
	fmt.Fprintln(e.stderr, "# put kid and public_key under trusted_keys in the site file; keep the seed on the key server only")
	return nil
}

// writeNewSecret writes data to a file that must not exist yet, mode 0600.
// O_EXCL makes an existing file, or a symlink (even a dangling one), an
// error: an operator seed is the only copy of a private key, and a second
// keygen with the same name must not destroy it. A partly written file is
// removed.
func writeNewSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write seed: %s already exists; refusing to overwrite it (it may be an operator's only private key): choose another file", path)
	}
	if err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write seed %s: %w", path, err)
	}
	return nil
}

// listFlag collects a repeated or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// readSeed reads an operator private key from a seed file.
func readSeed(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed: %w", err)
	}
	priv, err := keys.ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return priv, nil
}

// cmdIssue signs a key from flags and prints its QR text.
func cmdIssue(e *env, args []string) error {
	fs := newFlags(e, "keys issue", "keys issue --seed-file F --site S --resource R --action A [flags]")
	seedFile := fs.String("seed-file", "", "operator private seed file (from keys keygen)")
	site := fs.String("site", "", "site ID")
	keyID := fs.String("key-id", "", "key ID (default: random)")
	holder := fs.String("holder", "", "holder account ID")
	nick := fs.String("nickname", "", "holder nickname")
	issuer := fs.String("issuer", "", "issuer")
	var resources, actions listFlag
	fs.Var(&resources, "resource", "resource or pattern, e.g. gate:out-* (repeatable)")
	fs.Var(&actions, "action", "enter, exit, open, unlock, lock (repeatable)")
	from := fs.String("from", "", "not valid before T")
	until := fs.String("until", "", "expires at T")
	tz := fs.String("tz", "UTC", "time zone for local times in --from/--until")
	uses := fs.Int("uses", 0, "uses allowed (0 = unlimited, 1 = single-use)")
	exempt := fs.Bool("fee-exempt", false, "sessions opened with this key pay nothing")
	presence := fs.String("presence", "none", "remote presence policy: none, geofence, geofence_pin")
	pin := fs.String("pin", "", "PIN for geofence_pin (stored as a salted scrypt hash)")
	deviceKey := fs.String("device-key", "", "bind to the holder's device: its Ed25519 public key (base64)")
	png := fs.String("png", "", "also write the QR code as a PNG image to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *seedFile == "" || *site == "" || len(resources) == 0 || len(actions) == 0 {
		fs.Usage()
		return usageErr("keys issue needs --seed-file, --site, --resource and --action")
	}
	priv, err := readSeed(*seedFile)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usageErr("--tz: %v", err)
	}
	c := keys.Claims{KeyID: *keyID, Issuer: *issuer, Holder: *holder, Nickname: *nick, Site: *site,
		Resources: resources, Actions: actions, Uses: *uses, FeeExempt: *exempt, IssuedAt: e.now().Truncate(time.Second)}
	if c.KeyID == "" {
		c.KeyID = "k-" + strings.ToLower(randomID())
	}
	if *from != "" {
		if c.NotBefore, err = parseTime(*from, loc); err != nil {
			return usageErr("--from: %v", err)
		}
	}
	if *until != "" {
		if c.Expires, err = parseTime(*until, loc); err != nil {
			return usageErr("--until: %v", err)
		}
	}
	c.Presence.Policy = *presence
	if *pin != "" {
		salt, err := keys.NewPINSalt(rand.Reader)
		if err != nil {
			return err
		}
		c.Presence.PINSalt, c.Presence.PINHash = salt, keys.HashPIN(*pin, salt)
	}
	if *deviceKey != "" {
		if c.DeviceKey, err = keys.ParsePublicKey(*deviceKey); err != nil {
			return usageErr("--device-key: %v", err)
		}
	}
	kid := keys.DeriveKID(priv.Public().(ed25519.PublicKey))
	cose, err := keys.Sign(c, kid, priv)
	if err != nil {
		return usageErr("%v", err)
	}
	text := keys.EncodeText(cose)
	if *png != "" {
		if err := qrcode.WriteFile(text, qrcode.Medium, 512, *png); err != nil {
			return fmt.Errorf("write QR image: %w", err)
		}
	}
	fmt.Fprintln(e.stdout, text)
	fmt.Fprintf(e.stderr, "# key %s signed by kid %s (%d bytes, %d QR characters)\n", c.KeyID, kid, len(cose), len(text))
	return nil
}

// randomID is 10 random base32 characters.
func randomID() string {
	b := make([]byte, 7)
	_, _ = rand.Read(b)
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")[:10]
}
