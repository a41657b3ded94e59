// Command natsd is a NATS server: drop-in compatible with nats-server's
// protocol, flags and config files, and made for systemd. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/natsd/natsd/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	cl, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "natsd: %v\n", err)
		return 1
	}
	switch {
	case cl.help:
		fmt.Fprint(stdout, usage)
		return 0
	case cl.version:
		fmt.Fprintf(stdout, "natsd: v%s\n", daemon.Version)
		return 0
	case cl.reload:
		return reload(cl.reloadTarget, stdout, stderr)
	case cl.signal != "":
		if err := daemon.SendSignal(cl.signal); err != nil {
			fmt.Fprintf(stderr, "natsd: %v\n", err)
			return 1
		}
		return 0
	case cl.check:
		return checkConfig(cl.flags, stdout, stderr)
	}
	if err := daemon.Run(context.Background(), cl.flags, daemon.Env{Stderr: stderr}); err != nil {
		fmt.Fprintf(stderr, "natsd: %v\n", err)
		return 1
	}
	return 0
}

// reload is `natsd reload` and `natsd --signal reload --wait`: the
// running natsd reloads, and this prints what changed or why it failed.
func reload(target string, stdout, stderr io.Writer) int {
	changes, err := daemon.RequestReload(target)
	var failed *daemon.ReloadFailed
	switch {
	case errors.As(err, &failed):
		fmt.Fprintf(stderr, "natsd: reload failed:\n%s\n", failed.Msg)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "natsd: reload: %v\n", err)
		return 1
	}
	if len(changes) == 0 {
		fmt.Fprintln(stdout, "Reloaded: no option changed")
	}
	for _, c := range changes {
		fmt.Fprintln(stdout, "Reloaded: "+c)
	}
	return 0
}

// checkConfig is -t: the same load-and-validate path as startup, then
// "FILE: OK" or every problem, one per line, and exit 0 or 1.
func checkConfig(f *daemon.Flags, stdout, stderr io.Writer) int {
	if f.ConfigFile == "" {
		fmt.Fprintln(stderr, "natsd: must specify [-c, --config] option to check configuration file syntax")
		return 1
	}
	_, diag, err := daemon.Load(f)
	if diag != nil {
		for _, w := range diag.Warnings {
			fmt.Fprintf(stderr, "warning: %v\n", w)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", f.ConfigFile)
	return 0
}
