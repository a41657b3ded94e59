package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// scenario is one `nats bench` throughput case.
type scenario struct {
	ID    string
	Title string
	Size  int // payload bytes
	Msgs  int // messages published (each subscriber receives all of them)
	Subs  int // subscriber connections; 0 is publish-only

	// Topology. Nodes is the number of servers (1 = a single server);
	// PubNode and SubNode say which node the publisher and the
	// subscribers connect to. Nodes > 1 starts a full-mesh cluster of the
	// same server kind on loopback (see startTopology).
	Nodes, PubNode, SubNode int

	// TLS: none, the client port, or the routes (tls.go).
	TLS tlsMode
	// WS: the clients connect over WebSocket (ws.go).
	WS bool

	// Service: requests from account APP to a service exported by account
	// SVC (Subs is the number of requesters and of responders).
	Service bool
}

// metric says what the headline number of a scenario is.
func (sc scenario) metric() string {
	if sc.Service {
		return fmt.Sprintf("replies/s, sum of %d requesters", sc.Subs)
	}
	if sc.Subs == 0 {
		return "published msgs/s"
	}
	if sc.Subs == 1 {
		return "received msgs/s"
	}
	return fmt.Sprintf("received msgs/s, sum of %d subs", sc.Subs)
}

// tpResult is one run of one scenario against one server.
type tpResult struct {
	Rate    float64 // headline msgs/s: publisher's for publish-only, subscribers' aggregate otherwise
	PubRate float64 // the publisher's own msgs/s
	Wall    time.Duration

	// With cost: from the publisher's start to the last subscriber's end,
	// summed over the servers of the run.
	CPU      time.Duration // CPU time (user + system), from /proc/PID/stat
	GCCycles int           // garbage collections (GODEBUG=gctrace=1)
}

// costSnapshot is what the servers of a run have used so far.
type costSnapshot struct {
	cpu time.Duration
	gc  int
}

func snapshot(nodes []*server) (costSnapshot, error) {
	var c costSnapshot
	for _, n := range nodes {
		t, err := cpuTime(n.PID())
		if err != nil {
			return c, err
		}
		g, err := n.gcCycles()
		if err != nil {
			return c, err
		}
		c.cpu += t
		c.gc += g
	}
	return c, nil
}

// `nats bench` (natscli v0.5.0) prints, for one client,
//
//	NATS Core NATS publisher stats: 3,525,595 msgs/sec ~ 54 MiB/sec ~ ...
//	NATS Core NATS subscriber stats: 1,613,689 msgs/sec ~ 25 MiB/sec
//
// and for several clients per-client lines, then
//
//	NATS Core NATS subscriber aggregated stats: 1,280,678 msgs/sec ~ 20 MiB/sec
var (
	reAggregated = regexp.MustCompile(`(?m)aggregated stats: ([0-9,]+) msgs/sec`)
	reSingle     = regexp.MustCompile(`(?m)(?:publisher|subscriber) stats: ([0-9,]+) msgs/sec`)
)

// parseRate takes the headline rate from `nats bench` output, and falls
// back to its --csv file (sum of messages over the longest client
// duration) if the text format ever changes.
func parseRate(out, csvPath string) (float64, error) {
	for _, re := range []*regexp.Regexp{reAggregated, reSingle} {
		if m := re.FindStringSubmatch(out); m != nil {
			return strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		}
	}
	return rateFromCSV(csvPath)
}

// rateFromCSV reads natscli's --csv output:
// #RunID,ClientID,MsgCount,MsgBytes,MsgsPerSec,BytesPerSec,DurationSecs,...
func rateFromCSV(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("no rate in output and no csv: %w", err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, fmt.Errorf("no rate in output, csv unreadable (%v)", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "#")] = i
	}
	ci, ok1 := col["MsgCount"]
	di, ok2 := col["DurationSecs"]
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("csv header without MsgCount/DurationSecs: %v", rows[0])
	}
	var msgs, dur float64
	for _, row := range rows[1:] {
		if len(row) <= max(ci, di) {
			continue
		}
		n, err1 := strconv.ParseFloat(row[ci], 64)
		d, err2 := strconv.ParseFloat(row[di], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		msgs += n
		dur = max(dur, d)
	}
	if dur <= 0 {
		return 0, errors.New("csv has no duration")
	}
	return msgs / dur, nil
}

// startTopology starts sc.Nodes servers of kind k. With more than one node
// they form a cluster: node 0 listens for routes, the others route to it.
// Each node gets monitoring so the runner can see subscriptions and routes.
//
// The cross-route scenario (publish on A, subscribe on B) uses this path.
func startTopology(cfg *config, k serverKind, sc scenario, dir string, env []string) ([]*server, error) {
	ws := 0
	if sc.WS {
		if sc.Nodes > 1 {
			return nil, errors.New("WebSocket scenarios run on one server (the listener's port is the same for all)")
		}
		var err error
		if ws, err = freePort(); err != nil {
			return nil, err
		}
	}
	args, err := topologyConf(cfg, sc, dir, ws)
	if err != nil {
		return nil, err
	}
	if sc.TLS == tlsClients {
		args = append(args, cfg.pki.clientArgs()...)
	}
	if sc.Nodes <= 1 {
		s, err := startServer(k, dir, serverOpts{monitor: true, env: env, extra: args, tls: sc.TLS == tlsClients, wsPort: ws})
		if err != nil {
			return nil, err
		}
		return []*server{s}, nil
	}
	var nodes []*server
	stopAll := func() {
		for _, n := range nodes {
			n.Stop()
		}
	}
	seedPort := 0
	for i := range sc.Nodes {
		cport, err := freePort()
		if err != nil {
			stopAll()
			return nil, err
		}
		extra := append([]string{"-cluster_name", "bench", "-cluster", fmt.Sprintf("nats://127.0.0.1:%d", cport)}, args...)
		if i == 0 {
			seedPort = cport
		} else {
			extra = append(extra, "-routes", fmt.Sprintf("nats://127.0.0.1:%d", seedPort))
		}
		s, err := startServer(k, dir, serverOpts{monitor: true, extra: extra, env: env, tls: sc.TLS == tlsClients})
		if err != nil {
			stopAll()
			return nil, err
		}
		nodes = append(nodes, s)
	}
	// Wait until every node sees a route to each other node.
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for {
			r, err := n.numRoutes()
			if err == nil && r >= sc.Nodes-1 {
				break
			}
			if time.Now().After(deadline) {
				stopAll()
				return nil, fmt.Errorf("%s cluster did not form (routes=%d, err=%v): %s", k.Name, r, err, n.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes, nil
}

// startRun starts sc's servers of kind k for one run, in a directory of
// the run's own; with cost they run with GODEBUG=gctrace=1.
func startRun(cfg *config, k serverKind, sc scenario, cost bool) (string, []*server, error) {
	dir, err := os.MkdirTemp(cfg.tmp, sc.ID+"-"+k.Name+"-")
	if err != nil {
		return "", nil, err
	}
	var env []string
	if cost {
		env = []string{"GODEBUG=gctrace=1"}
	}
	nodes, err := startTopology(cfg, k, sc, dir, env)
	return dir, nodes, err
}

func stopAll(nodes []*server) {
	for _, n := range nodes {
		n.Stop()
	}
}

// runThroughput runs scenario sc once against a fresh server (or cluster)
// of kind k, then stops it. With cost, the servers run with
// GODEBUG=gctrace=1 and the result has their CPU time and GC cycles.
func runThroughput(ctx context.Context, cfg *config, k serverKind, sc scenario, cost bool) (tpResult, error) {
	dir, nodes, err := startRun(cfg, k, sc, cost)
	if err != nil {
		return tpResult{}, err
	}
	defer stopAll(nodes)
	subject := "bench." + sc.ID
	size := strconv.Itoa(sc.Size)
	msgs := strconv.Itoa(sc.Msgs)
	t0 := time.Now()

	// Subscribers first, in their own `nats bench sub` process; wait until
	// the server shows their subscriptions before publishing.
	var subCmd *exec.Cmd
	var subOut bytes.Buffer
	subCSV := filepath.Join(dir, "sub.csv")
	subDone := make(chan struct{}) // closed when the sub process has been reaped
	var subErr error               // its exit status, once subDone is closed
	reapSub := func() {
		if subCmd != nil {
			_ = subCmd.Process.Kill() // no-op error if it has exited
			<-subDone
		}
	}
	defer reapSub()
	if sc.Subs > 0 {
		sn := nodes[sc.SubNode]
		subCmd = exec.Command(cfg.natsCLI, append(cliFlags(cfg, sc), "-s", sn.URL(), "bench", "sub", subject,
			"--msgs", msgs, "--size", size, "--clients", strconv.Itoa(sc.Subs),
			"--no-progress", "--csv", subCSV)...)
		subCmd.Stdout, subCmd.Stderr = &subOut, &subOut
		if err := startCmd(subCmd); err != nil {
			return tpResult{}, err
		}
		go func() {
			subErr = waitCmd(subCmd)
			close(subDone)
		}()
		if err := waitSubs(sn, sc.Subs, subDone, 20*time.Second); err != nil {
			reapSub()
			return tpResult{}, fmt.Errorf("subscribers not ready: %w: %s", err, tail(subOut.String(), 400))
		}
		if sc.PubNode != sc.SubNode {
			// Interest has to cross the route before the first publish:
			// wait until the publisher's server lists it on a route.
			if err := waitRouteInterest(nodes[sc.PubNode], subject, 20*time.Second); err != nil {
				reapSub()
				return tpResult{}, err
			}
		}
	}

	var before costSnapshot
	if cost {
		if before, err = snapshot(nodes); err != nil {
			return tpResult{}, err
		}
	}
	pubCSV := filepath.Join(dir, "pub.csv")
	pctx, cancel := context.WithTimeout(ctx, cfg.runTimeout)
	defer cancel()
	pubOut, err := runCmd(pctx, cfg.natsCLI, append(cliFlags(cfg, sc), "-s", nodes[sc.PubNode].URL(), "bench", "pub", subject,
		"--msgs", msgs, "--size", size, "--no-progress", "--csv", pubCSV)...)
	if err != nil {
		return tpResult{}, fmt.Errorf("nats bench pub: %w: %s", err, tail(pubOut, 400))
	}
	var res tpResult
	if res.PubRate, err = parseRate(pubOut, pubCSV); err != nil {
		return tpResult{}, fmt.Errorf("publisher: %w: %s", err, tail(pubOut, 400))
	}
	res.Rate = res.PubRate

	if sc.Subs > 0 {
		// The subscribers exit once each has all sc.Msgs messages; one
		// that lost messages would wait forever, so bound the wait.
		select {
		case <-subDone:
			if subErr != nil {
				return tpResult{}, fmt.Errorf("nats bench sub: %w: %s", subErr, tail(subOut.String(), 400))
			}
		case <-time.After(cfg.drainTimeout):
			reapSub()
			return tpResult{}, fmt.Errorf("subscribers did not receive all %d messages within %v of the publisher's end (lost messages?)", sc.Msgs, cfg.drainTimeout)
		case <-ctx.Done():
			return tpResult{}, ctx.Err()
		}
		if res.Rate, err = parseRate(subOut.String(), subCSV); err != nil {
			return tpResult{}, fmt.Errorf("subscriber: %w: %s", err, tail(subOut.String(), 400))
		}
	}
	res.Wall = time.Since(t0)
	if cost {
		after, err := snapshot(nodes)
		if err != nil {
			return tpResult{}, err
		}
		res.CPU, res.GCCycles = after.cpu-before.cpu, after.gc-before.gc
	}
	return res, nil
}

// cliTLS are natscli's flags for sc: trust the run's CA when clients use TLS.
func cliTLS(cfg *config, sc scenario) []string {
	if sc.TLS == tlsClients {
		return cfg.pki.cliArgs()
	}
	return nil
}

// waitRouteInterest polls /routez until a route of s lists subject.
func waitRouteInterest(s *server, subject string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := s.routeInterest(subject)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no route of the publisher's server lists %s after %v (last error %v)", subject, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitSubs polls /connz until the client connections hold want subscriptions.
func waitSubs(s *server, want int, subDone <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := s.clientSubs()
		if err == nil && n >= want {
			return nil
		}
		select {
		case <-subDone:
			return errors.New("nats bench sub exited early")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscriptions after %v (last error %v)", n, want, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
