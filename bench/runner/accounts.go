package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Clients of the throughput scenarios live in a named account, as they do
// on most servers that have any authorization: account APP, user bench.
// The service-import scenario adds account SVC, which exports a service
// that APP imports. Both servers read the same file.
const (
	benchUser, benchPass = "bench", "bench"
	svcUser, svcPass     = "svc", "svc"
	svcSubject           = "svc.bench"
)

func accountsConf() string {
	return fmt.Sprintf(`accounts {
  APP {
    users [ { user: %q, password: %q } ]
    imports [ { service: { account: SVC, subject: %q } } ]
  }
  SVC {
    users [ { user: %q, password: %q } ]
    exports [ { service: %q } ]
  }
}
`, benchUser, benchPass, svcSubject, svcUser, svcPass, svcSubject)
}

// topologyConf writes the one config file every node of sc reads (named
// accounts, route TLS, the WebSocket listener on wsPort when not 0), or
// returns no flags when sc needs none.
func topologyConf(cfg *config, sc scenario, dir string, wsPort int) ([]string, error) {
	var b strings.Builder
	if cfg.namedAccount || sc.Service {
		b.WriteString(accountsConf())
	}
	if sc.TLS == tlsRoutes {
		b.WriteString(cfg.pki.routeTLSConf())
	}
	if wsPort != 0 {
		b.WriteString(wsConf(wsPort))
	}
	if b.Len() == 0 {
		return nil, nil
	}
	f, err := os.CreateTemp(dir, "bench-*.conf")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, err = f.WriteString(b.String())
	return []string{"-c", f.Name()}, err
}

// cliFlags are natscli's connection flags for sc: the run's CA when
// clients use TLS, and the user of the named account.
func cliFlags(cfg *config, sc scenario) []string {
	args := cliTLS(cfg, sc)
	if cfg.namedAccount || sc.Service {
		args = append(args, "--user", benchUser, "--password", benchPass)
	}
	return args
}

// runScenario runs sc once against a fresh server (or cluster).
func runScenario(ctx context.Context, cfg *config, k serverKind, sc scenario, cost bool) (tpResult, error) {
	if sc.Service {
		return runService(ctx, cfg, k, sc, cost)
	}
	return runThroughput(ctx, cfg, k, sc, cost)
}

// runService is the service-import scenario: `nats bench service serve`
// answers in account SVC, `nats bench service request` asks from account
// APP through APP's import, so that every request and every reply crosses
// accounts.
func runService(ctx context.Context, cfg *config, k serverKind, sc scenario, cost bool) (tpResult, error) {
	dir, nodes, err := startRun(cfg, k, sc, cost)
	if err != nil {
		return tpResult{}, err
	}
	defer stopAll(nodes)
	s := nodes[0]
	serveLog, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return tpResult{}, err
	}
	defer serveLog.Close()
	serveTail := func() string { b, _ := os.ReadFile(serveLog.Name()); return tail(string(b), 400) }
	serve := exec.Command(cfg.natsCLI, "-s", s.URL(), "--user", svcUser, "--password", svcPass,
		"bench", "service", "serve", svcSubject, "--clients", strconv.Itoa(sc.Subs), "--no-progress")
	serve.Stdout, serve.Stderr = serveLog, serveLog
	if err := startCmd(serve); err != nil {
		return tpResult{}, err
	}
	served := make(chan struct{})
	go func() { _ = waitCmd(serve); close(served) }()
	defer func() { _ = serve.Process.Kill(); <-served }()
	if err := waitSubs(s, sc.Subs, served, 20*time.Second); err != nil {
		return tpResult{}, fmt.Errorf("service not ready: %w: %s", err, serveTail())
	}

	var before costSnapshot
	if cost {
		if before, err = snapshot(nodes); err != nil {
			return tpResult{}, err
		}
	}
	t0 := time.Now()
	reqCSV := filepath.Join(dir, "req.csv")
	rctx, cancel := context.WithTimeout(ctx, cfg.runTimeout)
	defer cancel()
	out, err := runCmd(rctx, cfg.natsCLI, append(cliFlags(cfg, sc), "-s", s.URL(), "bench", "service", "request", svcSubject,
		"--msgs", strconv.Itoa(sc.Msgs), "--size", strconv.Itoa(sc.Size), "--clients", strconv.Itoa(sc.Subs),
		"--no-progress", "--csv", reqCSV)...)
	if err != nil {
		return tpResult{}, fmt.Errorf("nats bench service request: %w: %s", err, tail(out, 400))
	}
	var res tpResult
	if res.Rate, err = parseRate(out, reqCSV); err != nil {
		return tpResult{}, fmt.Errorf("requester: %w: %s", err, tail(out, 400))
	}
	res.PubRate, res.Wall = res.Rate, time.Since(t0)
	if cost {
		after, err := snapshot(nodes)
		if err != nil {
			return tpResult{}, err
		}
		res.CPU, res.GCCycles = after.cpu-before.cpu, after.gc-before.gc
	}
	return res, nil
}
