// Command lotgate is the lotgate edge gateway: one binary for running the
// gateway and for the installer's and operator's offline tools.
//
// It is the only wiring root: it loads the config and connects the core
// (gateway) to the store (gateway/sqlite) and the drivers. main only calls
// run, so tests run the real command in-process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "time/tzdata" // tariffs and keys are read in the site's zone, even on a Pi without zoneinfo
)

// version is set by the Makefile from git.
var version = "dev"

// Exit codes a supervisor can act on. systemd's unit does not restart on
// ExitConfig (RestartPreventExitStatus=3).
const (
	ExitOK     = 0
	ExitError  = 1 // a runtime failure; restarting may help
	ExitUsage  = 2 // bad command line
	ExitConfig = 3 // bad config: fix the file, restarting will not help
	ExitDenied = 4 // `keys check`: the key was refused
	ExitAudit  = 5 // `audit verify`: the event chain is broken
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second signal forces the exit if the graceful shutdown hangs.
		<-ctx.Done()
		stop()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		fmt.Fprintln(os.Stderr, "lotgate: second signal, exiting now")
		os.Exit(ExitError)
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "lotgate:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "lotgate:", err)
	return ExitError
}

const usage = `lotgate — edge gateway for parking lots and facilities

Usage:
  lotgate run [--config FILE]            run the gateway (simulated devices by default)
  lotgate check-config FILE...           check site files; print every problem
  lotgate fee --config FILE --entry T --exit T [--json]
                                         the fee of a stay and its breakdown (at most 366 days)
  lotgate keys keygen                    make an operator key pair
  lotgate keys issue --seed-file F --site S --resource R --action A [...]
                                         sign a key and print its QR text
  lotgate keys check --config FILE --resource R --action A [--at T] TEXT
                                         verify a key offline, with no side effects
  lotgate devices --config FILE          list the devices and their health
  lotgate devices test --config FILE ID  exercise one device and show what its sensors said
  lotgate audit verify --config FILE     check the hash chain of the event log
  lotgate report unpaid --config FILE [--from T] [--to T] [--json]
                                         exits let through unpaid, for the operator
  lotgate time trust --config FILE [T]   record a trusted time (never goes backwards)
  lotgate time reset --config FILE --operator NAME --reason TEXT [T]
                                         take a wrong trusted time back (audited; gateway stopped)
  lotgate version                        print the version

Times T are RFC 3339 ("2026-03-29T01:30:00+01:00") or "2006-01-02 15:04" in
the site's time zone. Run "lotgate COMMAND --help" for a command's flags.
`

// run is the whole program: main only adds the process (signals, exit).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: ExitUsage}
	}
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, e, rest)
	case "check-config":
		return cmdCheckConfig(e, rest)
	case "fee":
		return cmdFee(e, rest)
	case "keys":
		return cmdKeys(ctx, e, rest)
	case "devices":
		return cmdDevices(ctx, e, rest)
	case "audit":
		return cmdAudit(ctx, e, rest)
	case "report":
		return cmdReport(ctx, e, rest)
	case "time":
		return cmdTime(ctx, e, rest)
	case "version", "--version":
		fmt.Fprintln(stdout, "lotgate", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErr("unknown command %q", cmd)
}

// env is what a command may touch of the process.
type env struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
}
