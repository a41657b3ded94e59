package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The JetStream rows: natscli's `nats bench js …` and `nats bench kv …`
// against natsd with its default (a publish is acknowledged once it is
// fsynced) and against nats-server twice: with `sync_interval: always`,
// the same promise, and with its default, which acknowledges first and
// fsyncs every two minutes. Each row is two comparisons: natsd against
// the same durability, and natsd against nats-server's lazy default.

// jsScenario is one JetStream case. Every run starts a fresh server with
// its own store directory under the run's temporary directory (the same
// disk for all).
type jsScenario struct {
	ID, Title, Metric string
	Msgs              int
	// Prefill, if set, fills the stream (or bucket) first with the same
	// number of messages, on the server started with its prefill
	// configuration; the server is then stopped and started again with
	// the configuration under test, and only Run is measured. The prefill
	// is not what is measured, and nats-server with sync_interval: always
	// would take minutes over it (one fsync per message).
	Prefill []string
	Run     []string // `nats bench` arguments of the measured command
}

const jsSubject = "js.bench"

// jsScenarios are the JetStream cases, in the order of the report.
// Message counts are sized so that a full set of rounds takes a few
// minutes on a 2-core machine: the synchronous rows wait for one fsync per
// message, and nats-server with sync_interval: always fsyncs every message
// of the asynchronous publish too.
func jsScenarios(cfg *config) []jsScenario {
	n := func(m int) int { return max(500, int(float64(m)*cfg.scale)) }
	size := []string{"--size", "128"}
	pubAsync := slices.Concat([]string{"js", "pub", "async", jsSubject, "--create"}, size)
	kvPut := slices.Concat([]string{"kv", "put"}, size)
	return []jsScenario{
		{ID: "jspubasync", Title: "js pub async, 128 B, file", Metric: "published msgs/s (acked)", Msgs: n(30_000),
			Run: pubAsync},
		{ID: "jspubsync", Title: "js pub sync, 128 B, file", Metric: "published msgs/s (acked)", Msgs: n(4_000),
			Run: slices.Concat([]string{"js", "pub", "sync", jsSubject, "--create"}, size)},
		{ID: "jsconsume", Title: "js consume (durable, explicit ack), 128 B", Metric: "consumed msgs/s", Msgs: n(100_000),
			Prefill: pubAsync, Run: []string{"js", "consume"}},
		{ID: "jsfetch", Title: "js fetch (durable, explicit ack, batch 500), 128 B", Metric: "consumed msgs/s", Msgs: n(100_000),
			Prefill: pubAsync, Run: []string{"js", "fetch"}},
		{ID: "kvput", Title: "kv put, 128 B, file", Metric: "puts/s", Msgs: n(4_000), Run: kvPut},
		{ID: "kvget", Title: "kv get, 128 B", Metric: "gets/s", Msgs: n(20_000),
			// Four putters share natsd's fsyncs (group commit), so that the
			// prefill does not take longer than the gets.
			Prefill: slices.Concat(kvPut, []string{"--clients", "4"}), Run: []string{"kv", "get"}},
	}
}

// isJSScenario says whether id is one of the JetStream scenarios, which
// `-only js` selects all together.
func isJSScenario(id string) bool {
	return slices.ContainsFunc(jsScenarios(&config{scale: 1}), func(sc jsScenario) bool { return sc.ID == id })
}

// jsKind is one server setup of the JetStream rows.
type jsKind struct {
	serverKind
	Label string
	// Sync is the jetstream block's sync_interval ("": the server's
	// default); PrefillSync the one the prefill runs with.
	Sync, PrefillSync string
}

func jsKinds(natsd, peer serverKind) (nd, always, lazy jsKind) {
	nd = jsKind{serverKind: natsd, Label: "natsd"}
	always = jsKind{serverKind: peer, Label: "nats-server always", Sync: "always"}
	lazy = jsKind{serverKind: peer, Label: "nats-server default"}
	return
}

// jsConfig writes the server's config file for a JetStream run: the
// store in dir/store, sync_interval when set, and, with -account (the
// default), account APP with JetStream enabled for the clients, as the
// other rows use it.
func jsConfig(cfg *config, dir, sync string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", filepath.Join(dir, "store"))
	if sync != "" {
		fmt.Fprintf(&b, "  sync_interval: %s\n", sync)
	}
	b.WriteString("}\n")
	if cfg.namedAccount {
		fmt.Fprintf(&b, "accounts {\n  APP {\n    jetstream: enabled\n    users [ { user: %q, password: %q } ]\n  }\n}\n", benchUser, benchPass)
	}
	path := filepath.Join(dir, "js-"+sync+".conf")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// `nats bench js|kv` (natscli v0.5.0) prints one line per kind of client:
//
//	NATS JetStream asynchronous publisher stats: 128,654 msgs/sec ~ 16 MiB/sec ~ min: …
//	NATS JetStream durable consumer (callback) stats: 173,532 msgs/sec ~ 21 MiB/sec
//	NATS JetStream KV putter stats: 2,689 msgs/sec ~ …
var reJSRate = regexp.MustCompile(`(?m)stats: ([0-9,]+) msgs/sec`)

// runJS runs sc once on a fresh server of kind k (after the prefill, if
// any, on a server of its own that used the same store), then stops it.
// With cost, the measured server runs with GODEBUG=gctrace=1 and the
// result has its CPU time and GC cycles during the measured command.
func runJS(ctx context.Context, cfg *config, k jsKind, sc jsScenario, cost bool) (tpResult, error) {
	dir, err := os.MkdirTemp(cfg.tmp, sc.ID+"-"+strings.ReplaceAll(k.Label, " ", "-")+"-")
	if err != nil {
		return tpResult{}, err
	}
	// The store goes with the run: the next run starts on an empty disk.
	defer os.RemoveAll(dir)
	msgs := strconv.Itoa(sc.Msgs)
	bench := func(s *server, args []string, csv string) (string, error) {
		pctx, cancel := context.WithTimeout(ctx, cfg.runTimeout)
		defer cancel()
		full := []string{"-s", s.URL()}
		if cfg.namedAccount {
			full = append(full, "--user", benchUser, "--password", benchPass)
		}
		full = append(full, "bench")
		full = append(full, args...)
		full = append(full, "--msgs", msgs, "--no-progress", "--csv", csv)
		return runCmd(pctx, cfg.natsCLI, full...)
	}
	if sc.Prefill != nil {
		conf, err := jsConfig(cfg, dir, k.PrefillSync)
		if err != nil {
			return tpResult{}, err
		}
		s, err := startServer(k.serverKind, dir, serverOpts{monitor: true, extra: []string{"-c", conf}})
		if err != nil {
			return tpResult{}, err
		}
		out, err := bench(s, sc.Prefill, filepath.Join(dir, "prefill.csv"))
		s.Stop()
		if err != nil {
			return tpResult{}, fmt.Errorf("prefill: %w: %s", err, tail(out, 400))
		}
	}
	conf, err := jsConfig(cfg, dir, k.Sync)
	if err != nil {
		return tpResult{}, err
	}
	var env []string
	if cost {
		env = []string{"GODEBUG=gctrace=1"}
	}
	s, err := startServer(k.serverKind, dir, serverOpts{monitor: true, extra: []string{"-c", conf}, env: env})
	if err != nil {
		return tpResult{}, err
	}
	defer s.Stop()
	var before costSnapshot
	if cost {
		if before, err = snapshot([]*server{s}); err != nil {
			return tpResult{}, err
		}
	}
	t0 := time.Now()
	csv := filepath.Join(dir, "run.csv")
	out, err := bench(s, sc.Run, csv)
	if err != nil {
		return tpResult{}, fmt.Errorf("nats bench %s: %w: %s", strings.Join(sc.Run[:2], " "), err, tail(out, 400))
	}
	res := tpResult{Wall: time.Since(t0)}
	res.Rate, err = jsRate(out, csv)
	if err != nil {
		return tpResult{}, fmt.Errorf("no rate: %w: %s", err, tail(out, 400))
	}
	if cost {
		after, err := snapshot([]*server{s})
		if err != nil {
			return tpResult{}, err
		}
		res.CPU, res.GCCycles = after.cpu-before.cpu, after.gc-before.gc
	}
	return res, nil
}

// jsRow is one JetStream scenario's results: natsd's runs against each
// nats-server setup's, round by round (the same natsd run in both).
type jsRow struct {
	ID, Title, Metric, Params string
	always, lazy              row // peer: nats-server with sync_interval: always, and with its default
}

func newJSRow(id, title, metric, unit, params string, higherBetter, noFlag bool) jsRow {
	r := row{ID: id, Title: title, Metric: metric, Unit: unit, Params: params, HigherBetter: higherBetter, NoFlag: noFlag}
	return jsRow{ID: id, Title: title, Metric: metric, Params: params, always: r, lazy: r}
}

func (r *jsRow) add(round int, k jsKind, v float64, ok bool) {
	switch k.Label {
	case "natsd":
		r.always.add(round, "natsd", v, ok)
		r.lazy.add(round, "natsd", v, ok)
	case "nats-server always":
		r.always.add(round, k.Name, v, ok)
	default:
		r.lazy.add(round, k.Name, v, ok)
	}
}

// runJSRows runs every single-server JetStream scenario wanted.
func runJSRows(ctx context.Context, cfg *config, natsd, peer serverKind, want func(string) bool) (rows, costRows []jsRow, failed bool) {
	return runJSSet(ctx, cfg, natsd, peer, jsScenarios(cfg), runJS, want)
}

// jsRunFunc runs one JetStream scenario once on a fresh server (runJS) or
// cluster (runJSR3) of kind k.
type jsRunFunc func(ctx context.Context, cfg *config, k jsKind, sc jsScenario, cost bool) (tpResult, error)

// runJSSet runs the scenarios wanted with run: cfg.jsRounds rounds of the
// three setups in rotating order, then, with cfg.cost, one run each with
// gctrace.
func runJSSet(ctx context.Context, cfg *config, natsd, peer serverKind, scs []jsScenario, run jsRunFunc, want func(string) bool) (rows, costRows []jsRow, failed bool) {
	nd, always, lazy := jsKinds(natsd, peer)
	kinds := []jsKind{nd, always, lazy}
	for _, sc := range scs {
		if !want(sc.ID) {
			continue
		}
		params := fmt.Sprintf("%s msgs", commas(float64(sc.Msgs)))
		if sc.Prefill != nil {
			params += fmt.Sprintf(", after `nats bench %s` of as many", strings.Join(sc.Prefill, " "))
		}
		r := newJSRow(sc.ID, sc.Title, sc.Metric, "msgs/s", params, true, false)
		for round := range cfg.jsRounds {
			for i := range kinds {
				k := kinds[(i+round)%len(kinds)] // who goes first rotates
				if ctx.Err() != nil {
					return rows, costRows, true
				}
				res, err := run(ctx, cfg, k, sc, false)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s round %d %s: FAILED: %v\n", sc.ID, round+1, k.Label, err)
					r.add(round, k, 0, false)
					failed = true
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: %-12s round %d %-19s %12s msgs/s in %.1fs\n",
					sc.ID, round+1, k.Label, commas(res.Rate), res.Wall.Seconds())
				r.add(round, k, res.Rate, true)
			}
		}
		rows = append(rows, r)
		if !cfg.cost {
			continue
		}
		cpu := newJSRow(sc.ID+"-cpu", sc.Title+": server CPU", "s per 1M msgs, lower is better", "s", "", false, true)
		gc := newJSRow(sc.ID+"-gc", sc.Title+": server GC cycles", "per 1M msgs, lower is better", "cycles", "", false, true)
		perM := float64(sc.Msgs) / 1e6
		for _, k := range kinds {
			if ctx.Err() != nil {
				return rows, costRows, true
			}
			res, err := run(ctx, cfg, k, sc, true)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s cost run %s: FAILED: %v\n", sc.ID, k.Label, err)
				cpu.add(0, k, 0, false)
				gc.add(0, k, 0, false)
				failed = true
				continue
			}
			fmt.Fprintf(os.Stderr, "bench: %-12s cost    %-19s CPU %.2fs, %d GC cycles for %s msgs (%s msgs/s with gctrace)\n",
				sc.ID, k.Label, res.CPU.Seconds(), res.GCCycles, commas(float64(sc.Msgs)), commas(res.Rate))
			cpu.add(0, k, res.CPU.Seconds()/perM, true)
			gc.add(0, k, float64(res.GCCycles)/perM, true)
		}
		costRows = append(costRows, cpu, gc)
	}
	return rows, costRows, failed
}

// jsRate is the rate natscli printed in out, or else the one in its CSV.
func jsRate(out, csv string) (float64, error) {
	if m := reJSRate.FindStringSubmatch(out); m != nil {
		return strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	}
	return rateFromCSV(csv)
}
