package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rssResult is one run of the idle-clients scenario against one server.
type rssResult struct {
	Base    uint64 // VmRSS with no client, after startup
	Loaded  uint64 // VmRSS with cfg.idleN idle clients connected
	Connect time.Duration
}

// PerClient is the VmRSS growth per idle client, in bytes.
func (r rssResult) PerClient(n int) float64 {
	if r.Loaded < r.Base || n == 0 {
		return 0
	}
	return float64(r.Loaded-r.Base) / float64(n)
}

// runRSS starts a fresh server of kind k (no monitoring: nothing but the
// clients), reads its VmRSS, connects cfg.idleN idle clients with
// bench/idleclients, lets them settle, reads VmRSS again, then stops both.
func runRSS(ctx context.Context, cfg *config, k serverKind) (rssResult, error) {
	dir, err := os.MkdirTemp(cfg.tmp, "rss-"+k.Name+"-")
	if err != nil {
		return rssResult{}, err
	}
	s, err := startServer(k, dir, serverOpts{})
	if err != nil {
		return rssResult{}, err
	}
	defer s.Stop()

	var res rssResult
	time.Sleep(500 * time.Millisecond)
	if res.Base, err = vmRSS(s.PID()); err != nil {
		return rssResult{}, err
	}

	cmd := exec.Command(cfg.idleBin, "-addr", s.Addr(), "-n", strconv.Itoa(cfg.idleN), "-timeout", "2m")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return rssResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return rssResult{}, err
	}
	var stderr strings.Builder // read only after Wait
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := startCmd(cmd); err != nil {
		return rssResult{}, err
	}
	ready := make(chan struct{})
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				close(ready)
			}
		}
	}()
	// stopDriver closes the driver's stdin (its signal to hang up), and
	// kills it if it does not exit promptly.
	stopDriver := func() error {
		_ = stdin.Close()
		select {
		case <-scanDone:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-scanDone
		}
		err := waitCmd(cmd)
		if err != nil {
			return fmt.Errorf("idleclients: %v: %s", err, tail(stderr.String(), 400))
		}
		return nil
	}

	select {
	case <-ready:
	case <-scanDone:
		err := stopDriver()
		return rssResult{}, fmt.Errorf("idleclients exited before READY (%v); server log: %s", err, s.logTail())
	case <-time.After(150 * time.Second):
		_ = stopDriver()
		return rssResult{}, fmt.Errorf("%d idle clients not connected within 150s", cfg.idleN)
	case <-ctx.Done():
		_ = stopDriver()
		return rssResult{}, ctx.Err()
	}
	res.Connect = time.Since(t0)

	// Let the server finish its per-connection work (and a GC cycle or
	// two), then take the median of a few samples.
	time.Sleep(cfg.settle)
	var samples []uint64
	for i := range 5 {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		v, err := vmRSS(s.PID())
		if err != nil {
			_ = stopDriver()
			return rssResult{}, err
		}
		samples = append(samples, v)
	}
	slices.Sort(samples)
	res.Loaded = samples[len(samples)/2]
	if err := stopDriver(); err != nil {
		return rssResult{}, err
	}
	return res, nil
}
