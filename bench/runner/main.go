// Command runner is `make bench`: it runs the same `nats bench` scenarios
// (natscli v0.5.0) against natsd and against nats-server, back to back and
// alternating, for several rounds, plus an idle-clients memory scenario,
// and prints a markdown table of the medians and the median ratios
// natsd/nats-server. It also writes that table, with the machine's facts,
// into docs/performance.md between the markers
//
//	<!-- bench:begin --> and <!-- bench:end -->
//
// leaving the hand-written text around them alone.
//
// Run it from the repository root: go run ./bench/runner -h
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type config struct {
	natsdBin, natsServerBin, natsCLI string
	docPath                          string
	rounds                           int
	rssRounds                        int
	jsRounds                         int
	idleN                            int
	settle                           time.Duration
	runTimeout                       time.Duration
	drainTimeout                     time.Duration
	scale                            float64
	only                             string
	crossRoute                       bool
	tls                              bool
	ws                               bool
	cost                             bool
	js                               bool
	jsR3                             bool
	namedAccount                     bool
	pki                              *benchPKI // the TLS scenarios' certificates
	tmp                              string
	idleBin                          string
}

// scenarios are the throughput cases, in the order of the report. Message
// counts are sized so that one run takes a few seconds on a 2-core machine
// (scaled by -scale).
func scenarios(cfg *config) []scenario {
	n := func(m int) int { return max(1000, int(float64(m)*cfg.scale)) }
	list := []scenario{
		{ID: "pub16", Title: "publish-only, 16 B", Size: 16, Msgs: n(6_000_000)},
		{ID: "pubsub16", Title: "pub→sub 1:1, 16 B", Size: 16, Msgs: n(2_500_000), Subs: 1},
		{ID: "fanout16", Title: "fan-out 1 pub → 5 subs, 16 B", Size: 16, Msgs: n(600_000), Subs: 5},
		{ID: "pubsub1k", Title: "pub→sub 1:1, 1 KiB", Size: 1024, Msgs: n(400_000), Subs: 1},
	}
	// Requests from one account to a service another exports (both
	// servers' clients always in named accounts here).
	list = append(list, scenario{ID: "svc16", Title: "service import request→reply, 4 requesters, 4 responders, 16 B", Size: 16, Msgs: n(200_000), Subs: 4, Service: true})
	if cfg.crossRoute {
		// Publish on node A, subscribe on node B of the seed's 3-node
		// cluster (A the seed, B and C routed to A; the same server kind on
		// every node, routes on loopback).
		list = append(list,
			scenario{ID: "route16", Title: "cross-route pub(A)→sub(B) 1:1, 16 B, 3-node cluster", Size: 16, Msgs: n(2_000_000), Subs: 1,
				Nodes: 3, PubNode: 0, SubNode: 1},
		)
	}
	if cfg.tls {
		// The same cases over TLS: the client port (both clients on TLS
		// 1.3 with natscli trusting the run's CA), and the routes of the
		// 3-node cluster (verify both ways; clients in plain text).
		list = append(list,
			scenario{ID: "pubsub16tls", Title: "pub→sub 1:1, 16 B, TLS", Size: 16, Msgs: n(2_000_000), Subs: 1, TLS: tlsClients},
			scenario{ID: "pubsub1ktls", Title: "pub→sub 1:1, 1 KiB, TLS", Size: 1024, Msgs: n(400_000), Subs: 1, TLS: tlsClients},
		)
		if cfg.crossRoute {
			list = append(list, scenario{ID: "route16tls", Title: "cross-route pub(A)→sub(B) 1:1, 16 B, 3-node cluster, TLS routes",
				Size: 16, Msgs: n(2_000_000), Subs: 1, Nodes: 3, PubNode: 0, SubNode: 1, TLS: tlsRoutes})
		}
	}
	if cfg.ws {
		// The same pub→sub cases with both clients on WebSocket (ws://,
		// no compression: nats.go's default), from a config file both
		// servers read alike.
		list = append(list,
			scenario{ID: "pubsub16ws", Title: "pub→sub 1:1, 16 B, WebSocket", Size: 16, Msgs: n(2_000_000), Subs: 1, WS: true},
			scenario{ID: "pubsub1kws", Title: "pub→sub 1:1, 1 KiB, WebSocket", Size: 1024, Msgs: n(400_000), Subs: 1, WS: true},
		)
	}
	for i := range list {
		list[i].Nodes = max(list[i].Nodes, 1)
	}
	return list
}

func main() {
	cfg := &config{}
	flag.StringVar(&cfg.natsdBin, "natsd", "bin/natsd", "natsd binary")
	flag.StringVar(&cfg.natsServerBin, "nats-server", ".tools/bin/nats-server-v2.15.2", "nats-server binary")
	flag.StringVar(&cfg.natsCLI, "nats", ".tools/bin/nats-v0.5.0", "natscli v0.5.0 binary")
	flag.StringVar(&cfg.docPath, "doc", "docs/performance.md", "markdown file to update (empty: do not write)")
	flag.IntVar(&cfg.rounds, "rounds", 5, "alternating rounds per throughput scenario (at least 3)")
	flag.IntVar(&cfg.rssRounds, "rss-rounds", 3, "alternating rounds of the idle-clients scenario")
	flag.IntVar(&cfg.jsRounds, "js-rounds", 3, "rounds of each JetStream scenario (natsd and nats-server's two setups, the first rotating)")
	flag.IntVar(&cfg.idleN, "idle-clients", 10000, "idle clients for the memory scenario")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "wait after the idle clients are connected before reading VmRSS")
	flag.DurationVar(&cfg.runTimeout, "run-timeout", 90*time.Second, "limit for one `nats bench pub`")
	flag.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "limit for subscribers to finish after the publisher")
	flag.Float64Var(&cfg.scale, "scale", 1, "multiply every message count (e.g. 0.1 for a smoke run)")
	flag.StringVar(&cfg.only, "only", "", "comma-separated scenario ids to run (pub16,pubsub16,fanout16,pubsub1k,svc16,route16,pubsub16tls,pubsub1ktls,route16tls,pubsub16ws,pubsub1kws,jspubasync,jspubsync,jsconsume,jsfetch,kvput,kvget,jsr3pubasync,jsr3pubsync,jsr3consume,rss; js: every single-server JetStream one; jsr3: every R3 one)")
	flag.BoolVar(&cfg.crossRoute, "cross-route", true, "run the cross-route scenarios (3-node cluster, pub on A, sub on B)")
	flag.BoolVar(&cfg.tls, "tls", true, "run the TLS scenarios (pub→sub over client TLS, cross-route over route TLS)")
	flag.BoolVar(&cfg.ws, "ws", true, "run the WebSocket scenarios (pub→sub with both clients on ws://)")
	flag.BoolVar(&cfg.js, "js", true, "run the JetStream scenarios (natsd's default against nats-server with sync_interval: always and with its default)")
	flag.BoolVar(&cfg.jsR3, "jsr3", true, "run the R3 JetStream scenarios (3-node clusters of each server; nats-server with sync_interval: always and with its default)")
	flag.BoolVar(&cfg.cost, "cost", true, "after the rounds, run each throughput scenario once more per server with GODEBUG=gctrace=1 and report its CPU time and GC cycles per million messages")
	flag.BoolVar(&cfg.namedAccount, "account", true, "clients in a named account (APP, with a user and password), not the global account $G")
	flag.Parse()
	if cfg.rounds < 1 || cfg.rssRounds < 1 || cfg.jsRounds < 1 {
		fatalf("rounds must be positive")
	}

	// Kill everything we started on SIGINT/SIGTERM/SIGHUP, and on any exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v: stopping every process started\n", s)
		cancel()
		killAll()
		os.Exit(130)
	}()
	code := run(ctx, cfg)
	killAll()
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	killAll()
	os.Exit(1)
}

func run(ctx context.Context, cfg *config) int {
	started := time.Now()
	var err error
	if cfg.tmp, err = os.MkdirTemp("", "natsd-bench-"); err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(cfg.tmp)

	lim := raiseNoFile(uint64(cfg.idleN)*2 + 4096)
	natsd := serverKind{Name: "natsd", Bin: cfg.natsdBin}
	peer := serverKind{Name: "nats-server", Bin: cfg.natsServerBin}
	for _, k := range []*serverKind{&natsd, &peer} {
		if k.Bin, err = filepath.Abs(k.Bin); err != nil {
			fatalf("%v", err)
		}
		k.Version = versionOf(k.Bin, "--version")
	}
	cliVersion := versionOf(cfg.natsCLI, "--version")
	if !strings.Contains(cliVersion, "0.5.0") {
		fatalf("%s is %q: the scenarios are written for natscli v0.5.0's `nats bench`", cfg.natsCLI, cliVersion)
	}
	want := func(id string) bool { return selected(cfg.only, id) }

	if cfg.tls {
		if cfg.pki, err = newBenchPKI(cfg.tmp); err != nil {
			fatalf("making the TLS scenarios' certificates: %v", err)
		}
	}
	if want("rss") {
		cfg.idleBin = filepath.Join(cfg.tmp, "idleclients")
		if out, err := exec.Command("go", "build", "-o", cfg.idleBin, "./bench/idleclients").CombinedOutput(); err != nil {
			fatalf("building bench/idleclients: %v\n%s", err, out)
		}
	}

	facts := machineFacts()
	facts = append(facts,
		fact{"natsd", natsd.Version + " (" + relPath(cfg.natsdBin) + ")"},
		fact{"nats-server", peer.Version},
		fact{"natscli", cliVersion},
		fact{"open files limit", fmt.Sprint(lim)},
		fact{"load average at start", loadAvg()},
	)
	fmt.Fprintf(os.Stderr, "bench: natsd %s vs nats-server %s, natscli %s, %d rounds (JetStream: %d)\n", natsd.Version, peer.Version, cliVersion, cfg.rounds, cfg.jsRounds)

	var rows, costRows []row
	failed := false
	for _, sc := range scenarios(cfg) {
		if !want(sc.ID) {
			continue
		}
		r := row{ID: sc.ID, Title: sc.Title, Metric: sc.metric(), Unit: "msgs/s", HigherBetter: true,
			Params: fmt.Sprintf("%s msgs × %d B", commas(float64(sc.Msgs)), sc.Size)}
		for round := range cfg.rounds {
			for _, k := range order(round, natsd, peer) {
				if ctx.Err() != nil {
					return 130
				}
				res, err := runScenario(ctx, cfg, k, sc, false)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s round %d %s: FAILED: %v\n", sc.ID, round+1, k.Name, err)
					r.add(round, k.Name, 0, false)
					failed = true
					continue
				}
				extra := ""
				if sc.Subs > 0 {
					extra = fmt.Sprintf(" (publisher %s msgs/s)", commas(res.PubRate))
				}
				fmt.Fprintf(os.Stderr, "bench: %-8s round %d %-11s %12s msgs/s%s in %.1fs\n",
					sc.ID, round+1, k.Name, commas(res.Rate), extra, res.Wall.Seconds())
				r.add(round, k.Name, res.Rate, true)
			}
		}
		rows = append(rows, r)
		if cfg.cost {
			cpu, gc, ok := runCost(ctx, cfg, sc, natsd, peer)
			failed = failed || !ok
			costRows = append(costRows, cpu, gc)
		}
	}

	var jsRows, jsCostRows []jsRow
	if cfg.js {
		jsStarted := time.Now()
		var jsFailed bool
		jsRows, jsCostRows, jsFailed = runJSRows(ctx, cfg, natsd, peer, want)
		if ctx.Err() != nil {
			return 130
		}
		failed = failed || jsFailed
		if len(jsRows) > 0 {
			facts = append(facts, fact{"wall time of the JetStream rows", time.Since(jsStarted).Round(time.Second).String()})
		}
	}

	var jsR3Rows, jsR3CostRows []jsRow
	if cfg.jsR3 {
		r3Started := time.Now()
		var r3Failed bool
		jsR3Rows, jsR3CostRows, r3Failed = runJSR3Rows(ctx, cfg, natsd, peer, want)
		if ctx.Err() != nil {
			return 130
		}
		failed = failed || r3Failed
		if len(jsR3Rows) > 0 {
			facts = append(facts, fact{"wall time of the R3 JetStream rows", time.Since(r3Started).Round(time.Second).String()})
		}
	}

	if want("rss") {
		base := row{ID: "rss", Title: fmt.Sprintf("%s idle clients: server VmRSS", commas(float64(cfg.idleN))),
			Metric: "MiB, lower is better", Unit: "MiB", Params: "CONNECT + PING/PONG, then idle"}
		per := row{ID: "rss-per", Title: "… VmRSS growth per idle client", Metric: "KiB, lower is better", Unit: "KiB",
			Params: "(loaded − empty) / clients"}
		empty := row{ID: "rss-empty", Title: "… VmRSS of the empty server", Metric: "MiB, lower is better", Unit: "MiB",
			Params: "after startup, no client"}
		for round := range cfg.rssRounds {
			for _, k := range order(round, natsd, peer) {
				if ctx.Err() != nil {
					return 130
				}
				res, err := runRSS(ctx, cfg, k)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: rss round %d %s: FAILED: %v\n", round+1, k.Name, err)
					base.add(round, k.Name, 0, false)
					per.add(round, k.Name, 0, false)
					empty.add(round, k.Name, 0, false)
					failed = true
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: rss      round %d %-11s empty %.1f MiB, with %d idle clients %.1f MiB (%.2f KiB/client), connected in %.1fs\n",
					round+1, k.Name, mib(res.Base), cfg.idleN, mib(res.Loaded), res.PerClient(cfg.idleN)/1024, res.Connect.Seconds())
				base.add(round, k.Name, mib(res.Loaded), true)
				per.add(round, k.Name, res.PerClient(cfg.idleN)/1024, true)
				empty.add(round, k.Name, mib(res.Base), true)
			}
		}
		rows = append(rows, base, per, empty)
	}

	facts = append(facts, fact{"load average at end", loadAvg()}, fact{"wall time of the run", time.Since(started).Round(time.Second).String()})
	rep := report{Date: time.Now().UTC(), Facts: facts, Rows: rows, CostRows: costRows, JSRows: jsRows, JSCostRows: jsCostRows,
		JSR3Rows: jsR3Rows, JSR3CostRows: jsR3CostRows,
		Rounds: cfg.rounds, RSSRounds: cfg.rssRounds, JSRounds: cfg.jsRounds, Command: "make bench" + argsNote()}
	fmt.Println()
	if len(rep.Rows) > 0 {
		fmt.Println(rep.table(rep.Rows))
	}
	if len(rep.CostRows) > 0 {
		fmt.Println(rep.table(rep.CostRows))
	}
	if len(rep.JSRows) > 0 {
		fmt.Println(jsTable(rep.JSRows))
	}
	if len(rep.JSCostRows) > 0 {
		fmt.Println(jsTable(rep.JSCostRows))
	}
	if len(rep.JSR3Rows) > 0 {
		fmt.Println(jsTable(rep.JSR3Rows))
	}
	if len(rep.JSR3CostRows) > 0 {
		fmt.Println(jsTable(rep.JSR3CostRows))
	}
	if notes := rep.flagged(); notes != "" {
		fmt.Println(notes)
	}
	if notes := jsFlagged(rep.JSRows); notes != "" {
		fmt.Println(notes)
	}
	if notes := jsFlagged(rep.JSR3Rows); notes != "" {
		fmt.Println(notes)
	}
	if cfg.docPath != "" {
		// Each section's block is rewritten only by a run that has rows
		// for it.
		var err error
		if len(rep.Rows) > 0 {
			err = writeDoc(cfg.docPath, beginMarker, endMarker, rep.markdown())
		}
		if err == nil && len(rep.JSRows) > 0 {
			err = writeDoc(cfg.docPath, jsBeginMarker, jsEndMarker, rep.jsMarkdown())
		}
		if err == nil && len(rep.JSR3Rows) > 0 {
			err = writeDoc(cfg.docPath, jsR3BeginMarker, jsR3EndMarker, rep.jsR3Markdown())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: writing %s: %v\n", cfg.docPath, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s (%s)\n", cfg.docPath, time.Since(started).Round(time.Second))
	}
	if failed {
		fmt.Fprintln(os.Stderr, "bench: some runs failed (see above); medians use the runs that did not")
		return 1
	}
	return 0
}

// runCost runs sc once more on each server, with GODEBUG=gctrace=1, and
// returns two rows: the servers' CPU time and their GC cycles, per million
// messages published (from the publisher's start to the last subscriber's
// end, summed over the nodes of a cluster). One run each: these say where
// the time goes, the rounds above say how fast.
func runCost(ctx context.Context, cfg *config, sc scenario, natsd, peer serverKind) (cpu, gc row, ok bool) {
	cpu = row{ID: sc.ID + "-cpu", Title: sc.Title + ": server CPU", Metric: "s per 1M msgs, lower is better", Unit: "s", NoFlag: true}
	gc = row{ID: sc.ID + "-gc", Title: sc.Title + ": server GC cycles", Metric: "per 1M msgs, lower is better", Unit: "cycles", NoFlag: true}
	ok = true
	perM := float64(sc.Msgs) / 1e6
	for _, k := range []serverKind{natsd, peer} {
		if ctx.Err() != nil {
			return cpu, gc, false
		}
		res, err := runScenario(ctx, cfg, k, sc, true)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s cost run %s: FAILED: %v\n", sc.ID, k.Name, err)
			cpu.add(0, k.Name, 0, false)
			gc.add(0, k.Name, 0, false)
			ok = false
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %-8s cost   %-11s CPU %.2fs, %d GC cycles for %s msgs (%s msgs/s with gctrace)\n",
			sc.ID, k.Name, res.CPU.Seconds(), res.GCCycles, commas(float64(sc.Msgs)), commas(res.Rate))
		cpu.add(0, k.Name, res.CPU.Seconds()/perM, true)
		gc.add(0, k.Name, float64(res.GCCycles)/perM, true)
	}
	return cpu, gc, ok
}

// selected says whether -only (a comma-separated list of scenario ids,
// "js" standing for every single-server JetStream one and "jsr3" for
// every R3 one) selects id; an empty list selects everything.
func selected(only, id string) bool {
	if only == "" {
		return true
	}
	for f := range strings.SplitSeq(only, ",") {
		f = strings.TrimSpace(f)
		if f == id || f == "js" && isJSScenario(id) || f == "jsr3" && isJSR3Scenario(id) {
			return true
		}
	}
	return false
}

// order alternates which server goes first, round by round, so that a
// drift in the machine's load does not always favour the same one.
func order(round int, a, b serverKind) []serverKind {
	if round%2 == 0 {
		return []serverKind{a, b}
	}
	return []serverKind{b, a}
}

// argsNote says how the run differed from a plain `make bench`.
func argsNote() string {
	var set []string
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "natsd", "nats-server", "nats", "doc":
			return
		}
		set = append(set, "-"+f.Name+"="+f.Value.String())
	})
	if len(set) == 0 {
		return ""
	}
	return " BENCH_ARGS='" + strings.Join(set, " ") + "'"
}

func versionOf(bin string, arg string) string {
	out, err := exec.Command(bin, arg).CombinedOutput()
	if err != nil {
		fatalf("%s %s: %v: %s", bin, arg, err, out)
	}
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
