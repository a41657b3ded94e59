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
