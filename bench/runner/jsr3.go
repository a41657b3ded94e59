package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The R3 rows: the same `nats bench js …` commands on a stream with three
// replicas, against a 3-node cluster of the server under test on loopback
// (natsd's clustered JetStream against nats-server's, each with
// `sync_interval: always` and with its default, as the single-server
// rows). The runner creates the R3 stream itself (jsR3StreamAdd), which
// also says the cluster is ready, and points natscli at the node that
// leads it: where a server places the leader is its own choice, and a
// client one route away from the leader measures a different path, so
// leaving that to chance made the rounds of one setup differ by 2×.

// jsR3Nodes is the size of the R3 rows' cluster.
const jsR3Nodes = 3

// jsR3Scenarios are the R3 cases, in the order of the report. Message
// counts are small: a full set of rounds (three setups, each run starting
// a cluster and waiting for its meta leader) has to fit in a few minutes
// on a 2-core machine that runs all three nodes.
func jsR3Scenarios(cfg *config) []jsScenario {
	n := func(m int) int { return max(500, int(float64(m)*cfg.scale)) }
	size := []string{"--size", "128"}
	pubAsync := slices.Concat([]string{"js", "pub", "async", jsSubject}, size)
	return []jsScenario{
		{ID: "jsr3pubasync", Title: "R3 js pub async, 128 B, file, 3-node cluster", Metric: "published msgs/s (acked)", Msgs: n(20_000),
			Run: pubAsync},
		{ID: "jsr3pubsync", Title: "R3 js pub sync, 128 B, file, 3-node cluster", Metric: "published msgs/s (acked)", Msgs: n(2_000),
			Run: slices.Concat([]string{"js", "pub", "sync", jsSubject}, size)},
		{ID: "jsr3consume", Title: "R3 js consume (durable, explicit ack), 128 B, 3-node cluster", Metric: "consumed msgs/s", Msgs: n(30_000),
			Prefill: pubAsync, Run: []string{"js", "consume"}},
	}
}

// jsR3StreamAdd creates natscli bench's stream (its default name,
// benchstream) with three replicas in file storage, before each run.
var jsR3StreamAdd = []string{"stream", "add", "benchstream", "--subjects", jsSubject, "--replicas", "3", "--storage", "file", "--defaults"}

// isJSR3Scenario says whether id is one of the R3 scenarios, which
// `-only jsr3` selects all together.
func isJSR3Scenario(id string) bool {
	return slices.ContainsFunc(jsR3Scenarios(&config{scale: 1}), func(sc jsScenario) bool { return sc.ID == id })
}

// runJSR3Rows runs every R3 scenario wanted.
func runJSR3Rows(ctx context.Context, cfg *config, natsd, peer serverKind, want func(string) bool) (rows, costRows []jsRow, failed bool) {
	return runJSSet(ctx, cfg, natsd, peer, jsR3Scenarios(cfg), runJSR3, want)
}

// jsClusterConfig writes node i's config file: its name, its store, the
// jetstream block's sync_interval when set, the cluster (every node lists
// all three routes, itself included, as a typical deployment does), and
// account APP as jsConfig has it.
func jsClusterConfig(cfg *config, dir string, i int, sync string, clusterPorts []int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: n%d\n", i)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", filepath.Join(dir, fmt.Sprintf("store-n%d", i)))
	if sync != "" {
		fmt.Fprintf(&b, "  sync_interval: %s\n", sync)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "cluster {\n  name: bench\n  listen: \"127.0.0.1:%d\"\n  routes [\n", clusterPorts[i])
	for _, p := range clusterPorts {
		fmt.Fprintf(&b, "    nats://127.0.0.1:%d\n", p)
	}
	b.WriteString("  ]\n}\n")
	if cfg.namedAccount {
		fmt.Fprintf(&b, "accounts {\n  APP {\n    jetstream: enabled\n    users [ { user: %q, password: %q } ]\n  }\n}\n", benchUser, benchPass)
	}
	path := filepath.Join(dir, fmt.Sprintf("n%d.conf", i))
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// startJSCluster starts a 3-node cluster of kind k in dir, creates the
// bench's R3 stream and returns the nodes and the index of the stream's
// leader.
func startJSCluster(ctx context.Context, cfg *config, k jsKind, dir string, env []string) ([]*server, int, error) {
	// The route ports: held open together so that they differ, then
	// kept out of the client and monitoring ports startServer picks.
	ports := make([]int, jsR3Nodes)
	var held []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, h := range held {
				h.Close()
			}
			return nil, 0, err
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, h := range held {
		h.Close()
	}
	var nodes []*server
	for i := range jsR3Nodes {
		conf, err := jsClusterConfig(cfg, dir, i, k.Sync, ports)
		if err != nil {
			stopAll(nodes)
			return nil, 0, err
		}
		s, err := startServer(k.serverKind, dir, serverOpts{monitor: true, extra: []string{"-c", conf}, env: env, avoid: ports})
		if err != nil {
			stopAll(nodes)
			return nil, 0, err
		}
		nodes = append(nodes, s)
	}
	if k.Name == "nats-server" && k.Sync == "always" {
		// The key is the one nats-server reads: its /varz says so.
		for _, n := range nodes {
			if err := checkSyncAlways(n); err != nil {
				stopAll(nodes)
				return nil, 0, err
			}
		}
	}
	leader, err := createR3Stream(ctx, cfg, nodes, 20*time.Second)
	if err != nil {
		stopAll(nodes)
		return nil, 0, fmt.Errorf("%s cluster: %w: %s", k.Label, err, nodes[0].logTail())
	}
	return nodes, leader, nil
}

// checkSyncAlways reads nats-server's /varz: jetstream.config.sync_always
// is true when `sync_interval: always` took effect.
func checkSyncAlways(s *server) error {
	var vz struct {
		JetStream struct {
			Config struct {
				SyncAlways bool `json:"sync_always"`
			} `json:"config"`
		} `json:"jetstream"`
	}
	if err := s.getJSON("/varz", &vz); err != nil {
		return err
	}
	if !vz.JetStream.Config.SyncAlways {
		return errors.New("nats-server's /varz does not have jetstream.config.sync_always: true")
	}
	return nil
}

// cli runs natscli against s with the runner's account, bounded by limit.
func cli(ctx context.Context, cfg *config, s *server, limit time.Duration, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	full := []string{"-s", s.URL()}
	if cfg.namedAccount {
		full = append(full, "--user", benchUser, "--password", benchPass)
	}
	return runCmd(cctx, cfg.natsCLI, append(full, args...)...)
}

// createR3Stream creates the bench's R3 stream through node 0 until that
// succeeds (a fresh cluster needs a few seconds before its meta group has
// a leader and three servers to place the replicas on), then asks which
// node leads it.
func createR3Stream(ctx context.Context, cfg *config, nodes []*server, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		// natscli waits 5 s for an answer by default; before the meta
		// group has a leader nobody answers, so ask more often.
		out, err := cli(ctx, cfg, nodes[0], 6*time.Second, append([]string{"--timeout", "2s"}, jsR3StreamAdd...)...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no R3 stream after %v: %w: %s", timeout, err, tail(out, 300))
		}
		time.Sleep(250 * time.Millisecond)
	}
	out, err := cli(ctx, cfg, nodes[0], 6*time.Second, "stream", "info", "benchstream", "--json")
	if err != nil {
		return 0, fmt.Errorf("stream info: %w: %s", err, tail(out, 300))
	}
	var si struct {
		Cluster struct {
			Leader string `json:"leader"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(out), &si); err != nil {
		return 0, fmt.Errorf("stream info: %w: %s", err, tail(out, 300))
	}
	for i := range nodes {
		if si.Cluster.Leader == fmt.Sprintf("n%d", i) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("stream info names no node as the leader (%q)", si.Cluster.Leader)
}

// runJSR3 runs sc once on a fresh 3-node cluster of kind k: the prefill,
// if any, on the same cluster (unlike the single-server rows, which
// restart: the cluster under test is what fills the stream, and the fill
// is not measured), then the measured command, against the node that
// leads the stream. With cost,
// the nodes run with GODEBUG=gctrace=1 and the result has their CPU time
// and GC cycles during the measured command, summed; the CPU of each node
// is printed too. The nodes' logs are scanned for what a reader should
// look at (errors, warnings, leader changes, catch-ups).
func runJSR3(ctx context.Context, cfg *config, k jsKind, sc jsScenario, cost bool) (tpResult, error) {
	dir, err := os.MkdirTemp(cfg.tmp, sc.ID+"-"+strings.ReplaceAll(k.Label, " ", "-")+"-")
	if err != nil {
		return tpResult{}, err
	}
	defer os.RemoveAll(dir)
	var env []string
	if cost {
		env = []string{"GODEBUG=gctrace=1"}
	}
	t0 := time.Now()
	nodes, leader, err := startJSCluster(ctx, cfg, k, dir, env)
	for try := 1; err != nil && try < 3 && strings.Contains(err.Error(), "address already in use"); try++ {
		// A port picked free was taken before the node bound it (another
		// process on the machine): start again, on other ports and in
		// a directory of its own.
		fmt.Fprintf(os.Stderr, "bench:   %s %s: a port was taken at start-up, starting the cluster again\n", k.Label, sc.ID)
		sub, derr := os.MkdirTemp(dir, "retry-")
		if derr != nil {
			return tpResult{}, derr
		}
		nodes, leader, err = startJSCluster(ctx, cfg, k, sub, env)
	}
	if err != nil {
		return tpResult{}, err
	}
	defer stopAll(nodes)
	ready := time.Since(t0)
	// What the nodes log from here on: start-up (routes dialled before the
	// peer listens, the wait for a meta leader) is not of interest.
	from := make([]int64, len(nodes))
	for i, n := range nodes {
		if fi, err := os.Stat(n.logPath); err == nil {
			from[i] = fi.Size()
		}
	}
	defer func() {
		if s := scanLogs(nodes, from); s != "" {
			fmt.Fprintf(os.Stderr, "bench:   %s logs (%s%s): %s\n", k.Label, sc.ID, map[bool]string{true: " cost"}[cost], s)
		}
	}()
	msgs := strconv.Itoa(sc.Msgs)
	bench := func(args []string, csv string) (string, error) {
		return cli(ctx, cfg, nodes[leader], cfg.runTimeout, slices.Concat([]string{"bench"}, args,
			[]string{"--msgs", msgs, "--no-progress", "--csv", csv})...)
	}
	if sc.Prefill != nil {
		if out, err := bench(sc.Prefill, filepath.Join(dir, "prefill.csv")); err != nil {
			return tpResult{}, fmt.Errorf("prefill: %w: %s", err, tail(out, 400))
		}
	}
	var before []costSnapshot
	if cost {
		if before, err = nodeSnapshots(nodes); err != nil {
			return tpResult{}, err
		}
	}
	t1 := time.Now()
	csv := filepath.Join(dir, "run.csv")
	out, err := bench(sc.Run, csv)
	if err != nil {
		return tpResult{}, fmt.Errorf("nats bench %s: %w: %s", strings.Join(sc.Run[:2], " "), err, tail(out, 400))
	}
	res := tpResult{Wall: time.Since(t1)}
	res.Rate, err = jsRate(out, csv)
	if err != nil {
		return tpResult{}, fmt.Errorf("no rate: %w: %s", err, tail(out, 400))
	}
	if cost {
		after, err := nodeSnapshots(nodes)
		if err != nil {
			return tpResult{}, err
		}
		var per []string
		for i := range nodes {
			d := after[i].cpu - before[i].cpu
			res.CPU += d
			res.GCCycles += after[i].gc - before[i].gc
			per = append(per, fmt.Sprintf("n%d %.2fs/%d GC", i, d.Seconds(), after[i].gc-before[i].gc))
		}
		fmt.Fprintf(os.Stderr, "bench:   %s %s CPU per node: %s (stream leader n%d; cluster ready in %.1fs)\n", k.Label, sc.ID, strings.Join(per, ", "), leader, ready.Seconds())
	}
	return res, nil
}

// nodeSnapshots is each node's CPU time and GC cycles so far.
func nodeSnapshots(nodes []*server) ([]costSnapshot, error) {
	out := make([]costSnapshot, len(nodes))
	for i, n := range nodes {
		s, err := snapshot([]*server{n})
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// Log lines worth a look after an R3 run. Both servers print
// "[ERR]"/"[WRN]"; leader and catch-up lines differ in wording, so they
// are matched loosely.
var (
	reLogPrefix = regexp.MustCompile(`^\[\d+\] \S+ \S+ `)
	reLeader    = regexp.MustCompile(`(?i)leader`)
	reCatchup   = regexp.MustCompile(`(?i)catch(ing)?[ -]?up|snapshot`)
)

// scanLogs summarises the nodes' logs from the offsets from on: counts of
// errors, warnings, leader and catch-up lines, and the distinct error,
// warning, leader and catch-up lines (timestamps dropped), a few of them.
func scanLogs(nodes []*server, from []int64) string {
	var nErr, nWarn, nLeader, nCatch int
	var distinct []string
	for i, n := range nodes {
		b, err := os.ReadFile(n.logPath)
		if err != nil || int64(len(b)) < from[i] {
			continue
		}
		for line := range strings.Lines(string(b[from[i]:])) {
			line = strings.TrimSpace(reLogPrefix.ReplaceAllString(line, ""))
			show := false
			switch {
			case strings.HasPrefix(line, "[ERR]"):
				nErr++
				show = true
			case strings.HasPrefix(line, "[WRN]"):
				nWarn++
				show = !strings.Contains(line, "Plaintext passwords")
			}
			if reLeader.MatchString(line) {
				nLeader++
				show = true
			}
			if reCatchup.MatchString(line) {
				nCatch++
				show = true
			}
			key := fmt.Sprintf("n%d %s", i, line)
			if show && len(distinct) < 8 && !slices.Contains(distinct, key) {
				distinct = append(distinct, key)
			}
		}
	}
	s := fmt.Sprintf("%d ERR, %d WRN, %d leader lines, %d catch-up/snapshot lines", nErr, nWarn, nLeader, nCatch)
	if len(distinct) > 0 {
		s += "\n    " + strings.Join(distinct, "\n    ")
	}
	return s
}
