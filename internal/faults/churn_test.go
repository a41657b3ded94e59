package faults

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	churnConns   = 20000
	churnWorkers = 8
)

// churnRSSBoundMiB bounds the churned node: 20,000 connections come and go
// but at most churnWorkers are open at once, so what they leave behind
// must be garbage, not growth.
func churnRSSBoundMiB() int64 { return meshRSSBoundMiB() }

// How one churn connection behaves, by its number k.
func churnKind(k int) string {
	switch {
	case k%20 == 0:
		return "nats.go connect, close"
	case k%20 == 1:
		return "TCP connect, close at once"
	case k%20 == 2:
		return "INFO read, half a CONNECT, close"
	case k%2 == 0:
		return "CONNECT, PING, PONG, close"
	default:
		return "CONNECT, PING, PONG, reset (RST)"
	}
}

// TestFaultConnChurn: 20,000 client connections opened and closed against
// one node by several goroutines — most a raw CONNECT, PING, PONG and a
// close (about half of them an abortive close, RST), some cut before or in the
// middle of CONNECT, one in twenty a nats.go connect — while a counted
// publisher and subscriber pair runs on that node. The pair loses nothing,
// every connection that asked got its PONG, and once the churn is over the
// node holds what it held before: its connection count, fds and goroutines
// back to the baseline, RSS bounded throughout.
func TestFaultConnChurn(t *testing.T) {
	// Not parallel: 20,000 connects take the CPU, and fds and goroutines
	// are compared across them.
	probs := &errList{}
	n := newNode(t, "A")
	n.start(conf{})
	pair := newStream(t, probs, "A→A", 64, n, nil, []*node{n})
	base := baseline(t, n)
	var v0 struct {
		Connections int    `json:"connections"`
		Total       uint64 `json:"total_connections"`
	}
	if err := n.getJSON("/varz", &v0); err != nil {
		t.Fatal(err)
	}
	rss := sampleRSS(n)
	pair.run(2*time.Millisecond, 1) // ~500 msgs/s
	pair.flowing(t, 100, 10*time.Second)

	var next atomic.Int64
	var failed errList
	var fails atomic.Int64
	kinds := map[string]*atomic.Int64{}
	for k := range 20 {
		kinds[churnKind(k)] = new(atomic.Int64)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range churnWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= churnConns {
					return
				}
				kinds[churnKind(k)].Add(1)
				if err := churnOne(n, k); err != nil {
					fails.Add(1)
					failed.add("connection %d (%s): %v", k, churnKind(k), err)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	pair.flowing(t, 100, 10*time.Second) // the pair still flows after the churn
	pair.halt(t)
	msgs := pair.verify(t, 20*time.Second)
	probs.check(t)
	if f := fails.Load(); f > 0 {
		t.Errorf("%d of %d churn connections failed:\n  %s", f, churnConns, strings.Join(failed.errs, "\n  "))
	}

	u := backToBaseline(t, n, base, 30*time.Second)
	var v1 struct {
		Connections int    `json:"connections"`
		Total       uint64 `json:"total_connections"`
	}
	if err := n.getJSON("/varz", &v1); err != nil {
		t.Fatal(err)
	}
	if v1.Connections != v0.Connections {
		t.Errorf("%d client connections after the churn, %d before", v1.Connections, v0.Connections)
	}
	// Connections closed before the server accepted them are not counted.
	if v1.Total-v0.Total < churnConns*19/20 {
		t.Errorf("the server counted %d connections during the churn, want about %d", v1.Total-v0.Total, churnConns)
	}
	var ks []string
	for _, k := range []int{0, 1, 2, 4, 3} {
		ks = append(ks, fmt.Sprintf("%d × %s", kinds[churnKind(k)].Load(), churnKind(k)))
	}
	t.Logf("numbers: %d connections in %v (%.0f/s; %s), server counted %d; %s; A %v → %v, %d client connections before and after; peak RSS %s",
		churnConns, took.Round(time.Millisecond), float64(churnConns)/took.Seconds(), strings.Join(ks, ", "),
		v1.Total-v0.Total, msgs, base, u, v1.Connections, rss.stop(t, churnRSSBoundMiB()))
}

// churnOne makes churn connection number k.
func churnOne(n *node, k int) error {
	if k%20 == 0 {
		nc, err := nats.Connect(n.url(), nats.NoReconnect(), nats.Timeout(10*time.Second))
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	}
	conn, err := net.DialTimeout("tcp", n.addr(), 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if k%20 == 1 {
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 4096)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("greeting %q: %v", line, err)
	}
	if k%20 == 2 {
		_, err := conn.Write([]byte(`CONNECT {"verb`))
		return err
	}
	if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")); err != nil {
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for PONG: %v", err)
		}
		if line == "PONG\r\n" {
			break
		}
		if !strings.HasPrefix(line, "INFO ") && line != "PING\r\n" {
			return fmt.Errorf("got %q waiting for PONG", line)
		}
	}
	if k%2 == 1 {
		_ = conn.(*net.TCPConn).SetLinger(0) // the close sends RST
	}
	return nil
}
