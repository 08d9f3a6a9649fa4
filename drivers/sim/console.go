package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// consoleCommand is one console command.
type consoleCommand struct {
	name  string
	usage string // arguments, for help
	help  string
	run   func(s *Site, ctx context.Context, args string) (string, error)
}

// consoleCommands is the console's command table, in help order. It is a
// function rather than a package variable so that there is no global state.
func consoleCommands() []consoleCommand {
	return []consoleCommand{
		{"help", "", "list the commands", nil}, // answered by RunConsole
		{"status", "[id]", "one line per device: id kind state", (*Site).cmdStatus},
		{"car", "<lane>", "a car drives onto the lane's loop", (*Site).cmdCar},
		{"gone", "<lane>", "the car leaves the lane's loop", (*Site).cmdGone},
		{"scan", "<scanner|lane> <text…>", "the scanner reads the rest of the line", (*Site).cmdScan},
		{"ticket", "<lane|device>", "press the ticket button; replies with the printed ticket", (*Site).cmdTicket},
		{"pay", "<ref> <amount>", "pay cash (minor units) at the pay station", (*Site).cmdPay},
		{"redeliver", "<tx>", "the pay station reports cash payment tx again", (*Site).cmdRedeliver},
		{"fire", "on|off", "raise or clear the fire alarm", (*Site).cmdFire},
		{"park", "<space>", "a car stands on the space", (*Site).cmdPark},
		{"leave", "<space>", "the car leaves the space", (*Site).cmdLeave},
		{"door", "<door|compartment> open|close", "open or close a door", (*Site).cmdDoor},
		{"sensor", "<id> on|off", "set any sensor", (*Site).cmdSensor},
		{"offline", "<id> on|off", "take a device offline or back online", (*Site).cmdOffline},
		{"delay", "<id> <duration>", "make the device's commands take that long (0 for none)", (*Site).cmdDelay},
		{"history", "<id>", "what happened to the device, oldest first", (*Site).cmdHistory},
		{"quit", "", "end the console", nil}, // answered by RunConsole
	}
}

// Command is a console command added by the caller (cmd/lotgate adds the
// gateway's own: sessions, quotes, e-payments, overrides).
type Command struct {
	Name  string
	Usage string // arguments, for help
	Help  string
	Run   func(ctx context.Context, args string) (string, error)
}

// RunConsole reads commands from r, one a line, and writes replies to w
// until r ends, ctx is done or the quit command; none of these is an error.
// Every command gets one reply line, except help and status without an
// argument, which write one line per command or device. A failed command's
// reply starts with "error: ". Blank lines and lines starting with '#' are
// ignored. Type help for the commands.
//
// Lines are read on a goroutine that ends when r returns after RunConsole
// has returned; with os.Stdin that may be at process exit.
//
// extra commands are listed after the simulator's own and may not reuse
// their names.
func (s *Site) RunConsole(ctx context.Context, r io.Reader, w io.Writer, extra ...Command) error {
	done := make(chan struct{})
	defer close(done)
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
		readErr <- sc.Err()
	}()

	cmds := consoleCommands()
	quit := cmds[len(cmds)-1]
	cmds = cmds[:len(cmds)-1]
	for _, e := range extra {
		run := e.Run
		cmds = append(cmds, consoleCommand{e.Name, e.Usage, e.Help,
			func(_ *Site, ctx context.Context, args string) (string, error) { return run(ctx, args) }})
	}
	cmds = append(cmds, quit)
	for {
		var line string
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					return fmt.Errorf("sim console: read: %w", err)
				}
				return nil
			}
			line = strings.TrimSpace(l)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, args := cutWord(line)
		name = strings.ToLower(name)
		var reply string
		switch name {
		case "help", "?":
			reply = helpText(cmds)
		case "quit", "exit":
			_, err := io.WriteString(w, "bye\n")
			return err
		default:
			reply = s.runCommand(ctx, cmds, name, args)
		}
		if _, err := io.WriteString(w, reply+"\n"); err != nil {
			return fmt.Errorf("sim console: write: %w", err)
		}
	}
}

func (s *Site) runCommand(ctx context.Context, cmds []consoleCommand, name, args string) string {
	for _, c := range cmds {
		if c.name == name && c.run != nil {
			out, err := c.run(s, ctx, args)
			if err != nil {
				return "error: " + err.Error()
			}
			return out
		}
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	return fmt.Sprintf("error: unknown command %q; commands: %s", name, strings.Join(names, ", "))
}

func helpText(cmds []consoleCommand) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-40s %s", strings.TrimSpace(c.name+" "+c.usage), c.help)
	}
	return b.String()
}

// cutWord splits off the first space-separated word of s; rest has its
// leading blanks removed.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// words splits args into exactly n words.
func words(args string, n int, usage string) ([]string, error) {
	f := strings.Fields(args)
	if len(f) != n {
		return nil, fmt.Errorf("usage: %s", usage)
	}
	return f, nil
}

func parseOnOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "open":
		return true, nil
	case "off", "close", "closed":
		return false, nil
	}
	return false, fmt.Errorf("%q: want on or off", v)
}

func (s *Site) cmdStatus(_ context.Context, args string) (string, error) {
	f := strings.Fields(args)
	switch len(f) {
	case 0:
		if len(s.order) == 0 {
			return "no simulated devices", nil
		}
		lines := make([]string, 0, len(s.order))
		for _, id := range s.order {
			l, err := s.state(id)
			if err != nil {
				return "", err
			}
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n"), nil
	case 1:
		return s.state(f[0])
	}
	return "", errors.New("usage: status [id]")
}

func (s *Site) lane(id string) (gateway.Lane, error) {
	for _, l := range s.site.Lanes {
		if l.ID == id {
			return l, nil
		}
	}
	return gateway.Lane{}, gateway.Errorf(gateway.NotFound, "no lane %q", id)
}

func (s *Site) cmdCar(ctx context.Context, args string) (string, error) {
	return s.carOnLoop(ctx, args, true)
}

func (s *Site) cmdGone(ctx context.Context, args string) (string, error) {
	return s.carOnLoop(ctx, args, false)
}

func (s *Site) carOnLoop(ctx context.Context, args string, on bool) (string, error) {
	usage := "car <lane>"
	if !on {
		usage = "gone <lane>"
	}
	f, err := words(args, 1, usage)
	if err != nil {
		return "", err
	}
	l, err := s.lane(f[0])
	if err != nil {
		return "", err
	}
	if l.Loop == "" {
		return "", fmt.Errorf("lane %s has no loop detector", l.ID)
	}
	if err := s.SetSensor(ctx, l.Loop, on); err != nil {
		return "", err
	}
	if on {
		return fmt.Sprintf("car on lane %s (loop %s on)", l.ID, l.Loop), nil
	}
	return fmt.Sprintf("car gone from lane %s (loop %s off)", l.ID, l.Loop), nil
}

// resolve returns id itself when it is a simulated device of kind, else
// what viaModel finds for it in the site model.
func (s *Site) resolve(id string, kind gateway.DeviceKind, viaModel func(string) (string, bool)) (string, error) {
	if _, err := s.lookup(id, kind); err == nil {
		return id, nil
	}
	if dev, ok := viaModel(id); ok {
		if dev == "" {
			return "", fmt.Errorf("%s has no %s", id, kind)
		}
		return dev, nil
	}
	return "", gateway.Errorf(gateway.NotFound, "no %s for %q", kind, id)
}

func (s *Site) scannerOf(id string) (string, error) {
	return s.resolve(id, gateway.KindScanner, func(id string) (string, bool) {
		l, err := s.lane(id)
		return l.Scanner, err == nil
	})
}

func (s *Site) ticketOf(id string) (string, error) {
	return s.resolve(id, gateway.KindTicket, func(id string) (string, bool) {
		l, err := s.lane(id)
		return l.Ticket, err == nil
	})
}

func (s *Site) occupancyOf(id string) (string, error) {
	return s.resolve(id, gateway.KindOccupancy, func(id string) (string, bool) {
		for _, sp := range s.site.Spaces {
			if sp.ID == id {
				return sp.Sensor, true
			}
		}
		return "", false
	})
}

func (s *Site) doorSensorOf(id string) (string, error) {
	return s.resolve(id, gateway.KindDoorSensor, func(id string) (string, bool) {
		for _, d := range s.site.Doors {
			if d.ID == id {
				return d.DoorSensor, true
			}
		}
		for _, lk := range s.site.Lockers {
			for _, c := range lk.Compartments {
				if c.ID == id {
					return c.DoorSensor, true
				}
			}
		}
		return "", false
	})
}

func (s *Site) fireAlarm() (string, error) {
	if s.site.FireAlarm != nil && s.site.FireAlarm.Input != "" {
		return s.site.FireAlarm.Input, nil
	}
	var found []string
	for _, id := range s.order {
		if s.devices[id].kind == gateway.KindFireAlarm {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		return "", gateway.Errorf(gateway.NotFound, "site has no fire alarm input (use sensor <id> on|off)")
	}
	return found[0], nil
}

func (s *Site) cmdScan(ctx context.Context, args string) (string, error) {
	target, text := cutWord(args)
	if target == "" || text == "" {
		return "", errors.New("usage: scan <scanner|lane> <text…>")
	}
	id, err := s.scannerOf(target)
	if err != nil {
		return "", err
	}
	if err := s.Scan(ctx, id, text); err != nil {
		return "", err
	}
	return "scanned at " + id, nil
}

func (s *Site) cmdTicket(ctx context.Context, args string) (string, error) {
	f, err := words(args, 1, "ticket <lane|device>")
	if err != nil {
		return "", err
	}
	id, err := s.ticketOf(f[0])
	if err != nil {
		return "", err
	}
	before := s.Printed(id)
	if err := s.PressTicket(ctx, id); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, s.ticketWait)
	defer cancel()
	if err := s.Wait(wctx, func() bool { return s.Printed(id) > before }); err != nil {
		return "", fmt.Errorf("ticket %s: nothing printed within %v (the entry was refused or the printer is down: see the last events)", id, s.ticketWait)
	}
	return fmt.Sprintf("ticket %s: %s", id, s.LastTicket(id)), nil
}

func (s *Site) cmdPay(ctx context.Context, args string) (string, error) {
	f, err := words(args, 2, "pay <ref> <amount in minor units>")
	if err != nil {
		return "", err
	}
	amount, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return "", fmt.Errorf("amount %q: want an integer in minor units", f[1])
	}
	tx, err := s.PayCash(ctx, f[0], amount)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("paid %d for %s: tx %s", amount, f[0], tx), nil
}

func (s *Site) cmdRedeliver(ctx context.Context, args string) (string, error) {
	f, err := words(args, 1, "redeliver <tx>")
	if err != nil {
		return "", err
	}
	if err := s.RedeliverCash(ctx, f[0]); err != nil {
		return "", err
	}
	return "redelivered " + f[0], nil
}

func (s *Site) cmdFire(ctx context.Context, args string) (string, error) {
	f, err := words(args, 1, "fire on|off")
	if err != nil {
		return "", err
	}
	on, err := parseOnOff(f[0])
	if err != nil {
		return "", err
	}
	id, err := s.fireAlarm()
	if err != nil {
		return "", err
	}
	if err := s.SetSensor(ctx, id, on); err != nil {
		return "", err
	}
	return fmt.Sprintf("fire alarm %s (%s)", onOff(on), id), nil
}

func (s *Site) cmdPark(ctx context.Context, args string) (string, error) {
	return s.onSpace(ctx, args, true)
}

func (s *Site) cmdLeave(ctx context.Context, args string) (string, error) {
	return s.onSpace(ctx, args, false)
}

func (s *Site) onSpace(ctx context.Context, args string, on bool) (string, error) {
	usage := "park <space>"
	if !on {
		usage = "leave <space>"
	}
	f, err := words(args, 1, usage)
	if err != nil {
		return "", err
	}
	id, err := s.occupancyOf(f[0])
	if err != nil {
		return "", err
	}
	if err := s.SetSensor(ctx, id, on); err != nil {
		return "", err
	}
	if on {
		return fmt.Sprintf("%s occupied (%s on)", f[0], id), nil
	}
	return fmt.Sprintf("%s empty (%s off)", f[0], id), nil
}

func (s *Site) cmdDoor(ctx context.Context, args string) (string, error) {
	f, err := words(args, 2, "door <door|compartment> open|close")
	if err != nil {
		return "", err
	}
	var open bool
	switch strings.ToLower(f[1]) {
	case "open":
		open = true
	case "close", "closed", "shut":
	default:
		return "", fmt.Errorf("%q: want open or close", f[1])
	}
	id, err := s.doorSensorOf(f[0])
	if err != nil {
		return "", err
	}
	if err := s.SetSensor(ctx, id, open); err != nil {
		return "", err
	}
	state := "closed"
	if open {
		state = "open"
	}
	return fmt.Sprintf("%s %s (%s %s)", f[0], state, id, onOff(open)), nil
}

func (s *Site) cmdSensor(ctx context.Context, args string) (string, error) {
	f, err := words(args, 2, "sensor <id> on|off")
	if err != nil {
		return "", err
	}
	on, err := parseOnOff(f[1])
	if err != nil {
		return "", err
	}
	if err := s.SetSensor(ctx, f[0], on); err != nil {
		return "", err
	}
	return f[0] + " " + onOff(on), nil
}

func (s *Site) cmdOffline(_ context.Context, args string) (string, error) {
	f, err := words(args, 2, "offline <id> on|off")
	if err != nil {
		return "", err
	}
	off, err := parseOnOff(f[1])
	if err != nil {
		return "", err
	}
	if err := s.SetOffline(f[0], off); err != nil {
		return "", err
	}
	if off {
		return f[0] + " offline", nil
	}
	return f[0] + " online", nil
}

func (s *Site) cmdDelay(_ context.Context, args string) (string, error) {
	f, err := words(args, 2, "delay <id> <duration, e.g. 500ms>")
	if err != nil {
		return "", err
	}
	d, err := time.ParseDuration(f[1])
	if err != nil {
		return "", fmt.Errorf("duration %q: %w", f[1], err)
	}
	if err := s.SetDelay(f[0], d); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s delay %v", f[0], d), nil
}

func (s *Site) cmdHistory(_ context.Context, args string) (string, error) {
	f, err := words(args, 1, "history <id>")
	if err != nil {
		return "", err
	}
	if _, err := s.lookup(f[0]); err != nil {
		return "", err
	}
	h := s.History(f[0])
	if len(h) == 0 {
		return f[0] + ": (nothing yet)", nil
	}
	return f[0] + ": " + strings.Join(h, ", "), nil
}
