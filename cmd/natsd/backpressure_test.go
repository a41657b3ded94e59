package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// A publisher faster than a route must be slowed to the route's pace, not
// cut the route: nats-server stalls the producer and keeps the route, and
// so must natsd. With a small max_pending the flood is far past it within
// the first second; a separate stream crossing the same route must arrive
// whole and in order, and the route must stay up the whole time.
func TestRouteFloodKeepsRouteAndLosesNothing(t *testing.T) {
	cpA, cpB := testutil.FreePort(t), testutil.FreePort(t)
	conf := func(port, peer int, maxPending string) string {
		return fmt.Sprintf("http: 127.0.0.1:-1\nmax_pending: %s\nmax_payload: 64KB\ncluster {\n  name: flood\n  listen: 127.0.0.1:%d\n  routes: [nats://127.0.0.1:%d]\n}\n", maxPending, port, peer)
	}
	// A's small max_pending is the route's; B's is large so that B's
	// subscriber (a race-instrumented nats.go under -race, slower than the
	// route) is not itself cut off as a slow consumer.
	a := startNatsdConf(t, conf(cpA, cpB, "512KB"))
	b := startNatsdConf(t, conf(cpB, cpA, "512MB"))
	waitMesh(t, 10*time.Second, &node{Proc: a}, &node{Proc: b})

	sub := connect(t, b.ClientURL())
	var flooded atomic.Int64
	fs, err := sub.Subscribe("flood", func(*nats.Msg) { flooded.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	_ = fs.SetPendingLimits(-1, -1) // the client must not drop: only the server is under test
	var mu sync.Mutex
	var stream []int
	ss, err := sub.Subscribe("stream", func(m *nats.Msg) {
		n, _ := strconv.Atoi(string(m.Data))
		mu.Lock()
		stream = append(stream, n)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = ss.SetPendingLimits(-1, -1)
	_ = sub.Flush()
	probe := connect(t, a.ClientURL())
	probeSub, _ := sub.SubscribeSync("probe")
	_ = sub.Flush()
	waitInterest(t, probe, "probe", probeSub)

	// The stream: ~2,000 msgs/s A→B while the flood runs.
	streamPub := connect(t, a.ClientURL())
	floodPub := connect(t, a.ClientURL(), nats.ReconnectBufSize(-1))
	stop := make(chan struct{})
	var sentStream atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Microsecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if streamPub.Publish("stream", []byte(strconv.Itoa(i))) != nil {
				return
			}
			sentStream.Add(1)
		}
	}()
	var sentFlood atomic.Int64
	payload := bytes.Repeat([]byte("x"), 1024)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if floodPub.Publish("flood", payload) != nil {
				return
			}
			sentFlood.Add(1)
		}
	}()
	time.Sleep(3 * time.Second) // the length of the flood, not a wait for an outcome
	close(stop)
	wg.Wait()
	if err := streamPub.Flush(); err != nil {
		t.Fatalf("stream publisher: %v", err)
	}
	if err := floodPub.FlushTimeout(30 * time.Second); err != nil {
		t.Fatalf("flood publisher: %v", err)
	}
	t.Logf("flood: %d × 1 KiB sent, stream: %d sent", sentFlood.Load(), sentStream.Load())

	testutil.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		n := len(stream)
		mu.Unlock()
		if int64(n) != sentStream.Load() || flooded.Load() != sentFlood.Load() {
			return fmt.Errorf("B got %d/%d of the stream and %d/%d of the flood", n, sentStream.Load(), flooded.Load(), sentFlood.Load())
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for i, n := range stream {
		if n != i {
			t.Fatalf("stream message %d is %d: lost or reordered", i, n)
		}
	}
	for _, p := range []*testutil.Proc{a, b} {
		if n := strings.Count(p.Log(), "Registering remote route"); n != 1 {
			t.Errorf("a route was registered %d times: it was cut and redialed", n)
		}
		if strings.Contains(p.Log(), "Slow Consumer") {
			t.Errorf("a slow consumer was reported")
		}
	}
}

// Everything a client makes the server say to it counts against its
// max_pending: a client that floods PINGs (or verbose PUBs, or invalid
// SUBs) and never reads is paced or cut off, and what the server holds for
// it never grows past max_pending by more than one read's worth.
func TestRepliesBoundedByMaxPending(t *testing.T) {
	const maxPending = 1 << 20
	p := startNatsdConf(t, "http: 127.0.0.1:-1\nmax_pending: 1MB\n")
	floods := []struct{ name, unit string }{
		{"PING", "PING\r\n"},
		{"verbose PUB", "PUB x 1\r\na\r\n"},
		{"invalid SUB", "SUB a..b 1\r\n"},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", p.ClientAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			name := "flood-" + strings.ReplaceAll(f.name, " ", "-")
			if _, err := fmt.Fprintf(nc, "CONNECT {\"verbose\":true,\"name\":%q}\r\n", name); err != nil {
				t.Fatal(err)
			}
			block := []byte(strings.Repeat(f.unit, 64*1024/len(f.unit)))
			done := make(chan int64)
			go func() {
				// Write until 24 MiB are out or the server has taken nothing
				// for a second (it stopped reading us, or closed us).
				var sent int64
				for sent < 24<<20 {
					_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
					n, err := nc.Write(block)
					sent += int64(n)
					if err != nil {
						break
					}
				}
				done <- sent
			}()
			var peak int64
			var sent int64
		poll:
			for {
				select {
				case sent = <-done:
					break poll
				case <-time.After(50 * time.Millisecond):
				}
				peak = max(peak, pendingOf(t, p, name))
			}
			peak = max(peak, pendingOf(t, p, name))
			t.Logf("sent %d KiB, peak pending %d KiB", sent>>10, peak>>10)
			if peak > maxPending+256<<10 {
				t.Fatalf("the server held %d bytes for a client that does not read; max_pending is %d", peak, maxPending)
			}
			if sent >= 24<<20 {
				t.Fatalf("the server read all %d bytes from a client that does not read its replies", sent)
			}
			// Others are served meanwhile.
			other := connect(t, p.ClientURL())
			if err := other.Flush(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if !strings.Contains(p.Log(), "Slow Consumer") {
		// Not required (pacing may keep it under the limit), but say so.
		t.Log("no client was cut off; all were paced")
	}
}

// pendingOf is pending_bytes of the client named name in /connz (0 once it
// is gone).
func pendingOf(t *testing.T, p *testutil.Proc, name string) int64 {
	t.Helper()
	cz := httpGet(t, p.MonitorURL()+"/connz?limit=1000")
	conns, _ := cz["connections"].([]any)
	for _, c := range conns {
		m := c.(map[string]any)
		if m["name"] == name {
			n, _ := m["pending_bytes"].(float64)
			return int64(n)
		}
	}
	return 0
}
