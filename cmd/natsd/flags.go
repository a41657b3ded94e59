package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/natsd/natsd/daemon"
)

// cmdline is the parsed command line.
type cmdline struct {
	flags   *daemon.Flags
	check   bool
	help    bool
	version bool
	signal  string
	// wait: --signal reload waits for the reload's result (the control
	// socket) instead of sending SIGHUP.
	wait bool
	// reload is the `natsd reload [TARGET]` verb; reloadTarget its
	// argument (a pid, pid file or control socket; "" for the default).
	reload       bool
	reloadTarget string
}

// parseFlags reads nats-server's flags with Go's flag package, as
// nats-server does: single or double dash, -flag=value or -flag value, and
// bool flags take =false (so "--no_advertise false" fails as it does there).
func parseFlags(args []string, stderr io.Writer) (*cmdline, error) {
	cl := &cmdline{flags: &daemon.Flags{Logtime: true}}
	f := cl.flags
	fs := flag.NewFlagSet("natsd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	str := func(p *string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, *p, "")
		}
	}
	num := func(p *int, names ...string) {
		for _, n := range names {
			fs.IntVar(p, n, *p, "")
		}
	}
	boolean := func(p *bool, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, *p, "")
		}
	}
	var dv, dvv, vv bool
	var ignoredI int

	str(&f.ConfigFile, "c", "config")
	str(&f.Host, "a", "addr", "net")
	num(&f.Port, "p", "port")
	str(&f.ServerName, "n", "name", "server_name")
	num(&f.HTTPPort, "m", "http_port")
	str(&f.PidFile, "P", "pid")
	str(&f.PortsFileDir, "ports_file_dir")
	str(&f.LogFile, "l", "log")
	boolean(&f.Debug, "D", "debug")
	boolean(&f.Trace, "V", "trace")
	boolean(&vv, "VV")
	boolean(&dv, "DV")
	boolean(&dvv, "DVV")
	boolean(&f.Logtime, "T", "logtime")
	boolean(&f.LogtimeUTC, "logtime_utc")
	str(&f.User, "user")
	str(&f.Pass, "pass")
	str(&f.Token, "auth")
	str(&f.ClientAdvertise, "client_advertise")
	str(&f.Cluster, "cluster", "cluster_listen")
	str(&f.ClusterName, "cluster_name")
	str(&f.ClusterAdvertise, "cluster_advertise")
	str(&f.Routes, "routes")
	boolean(&f.NoAdvertise, "no_advertise")
	num(&f.ConnectRetries, "connect_retries")
	boolean(&f.TLS, "tls")
	boolean(&f.TLSVerify, "tlsverify")
	str(&f.TLSCert, "tlscert")
	str(&f.TLSKey, "tlskey")
	str(&f.TLSCACert, "tlscacert")
	num(&f.HTTPSPort, "ms", "https_port")
	boolean(&f.NoConfigWatch, "no_config_watch")
	boolean(&cl.check, "t")
	boolean(&cl.help, "h", "help")
	boolean(&cl.version, "v", "version")
	str(&cl.signal, "sl", "signal")
	boolean(&cl.wait, "wait")
	// Accepted so that documented command lines run; natsd does not serve
	// what they configure (a warning is logged when they are used).
	num(&ignoredI, "max_traced_msg_len")
	str(&f.RemoteSyslog, "r", "remote_syslog")
	boolean(&f.Syslog, "s", "syslog")
	fs.Int64Var(&f.LogSizeLimit, "log_size_limit", 0, "")
	str(&f.StoreDir, "sd", "store_dir")
	boolean(&f.JetStream, "js", "jetstream")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "reload" {
		// natsd reload [PID|PIDFILE|SOCKET]
		cl.reload = true
		if len(rest) > 2 {
			return nil, fmt.Errorf("natsd reload takes at most one argument (a pid, pid file or control socket), got %q", rest[1:])
		}
		if len(rest) == 2 {
			cl.reloadTarget = rest[1]
		}
		rest = nil
	}
	for _, a := range rest {
		switch a {
		case "version":
			cl.version = true
		case "help":
			cl.help = true
		default:
			return nil, fmt.Errorf("unrecognized command: %q", a)
		}
	}
	if cl.wait {
		cmd, target, _ := strings.Cut(cl.signal, "=")
		if cmd != "reload" {
			return nil, fmt.Errorf("--wait goes with --signal reload only")
		}
		cl.reload, cl.reloadTarget, cl.signal = true, target, ""
	}
	// Record which flags were given, by canonical name: only those override
	// the config file.
	canon := map[string]string{
		"c": "config", "a": "addr", "net": "addr", "p": "port", "n": "name", "server_name": "name",
		"m": "http_port", "P": "pid", "l": "log", "D": "debug", "V": "trace", "T": "logtime",
		"r": "remote_syslog", "s": "syslog",
		"cluster_listen": "cluster", "VV": "trace_verbose", "DVV": "trace_verbose", "ms": "https_port",
		"js": "jetstream", "sd": "store_dir",
	}
	f.Set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) {
		name := fl.Name
		if c, ok := canon[name]; ok {
			name = c
		}
		f.Set[name] = true
		switch fl.Name {
		case "DV", "DVV":
			f.Debug, f.Trace = dv || dvv, dv || dvv
			f.Set["debug"], f.Set["trace"] = true, true
		}
		switch fl.Name {
		case "VV", "DVV":
			f.TraceVerbose = vv || dvv
			f.Trace = f.Trace || f.TraceVerbose
			f.Set["trace"] = true
		}
	})
	return cl, nil
}

const usage = `Usage: natsd [options]

natsd is a NATS server: nats-server's protocol, flags and config files,
made for systemd. Options are nats-server's.

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222; -1 for random)
    -n, --name <server_name>         Server name (default: server id)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring (with the TLS options below)
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to natsd process (stop, quit, reopen, reload, ldm, term)
        --wait                       With --signal reload: wait for the reload and report it (as natsd reload)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -s, --syslog                     Log to the local syslog (/dev/log)
    -r, --remote_syslog <addr>       Log to a syslog server (udp://host:port, tcp://host:port, unix:///path)
        --log_size_limit <bytes>     Rotate the log file once it reaches this size
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries

natsd Options:
        --no_config_watch            Reload only on SIGHUP, not when the config file changes

Commands:
    reload [<pid>|<pidfile>|<socket>] Reload the running natsd's config and wait: prints each
                                     change, or the error (file:line:col), exits 0 or 1.
                                     Uses natsd's control socket ($RUNTIME_DIRECTORY/natsd.sock,
                                     /run/nats/natsd.sock, or next to its pid file).

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
`
