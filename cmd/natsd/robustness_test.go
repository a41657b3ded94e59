package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// badInputs are malformed client streams with what natsd must answer: the
// -ERR text ("" for a silent close) and whether it closes. They are the
// cases nats-server was recorded handling (see the protocol corpus); here
// they run many at a time while a healthy client keeps publishing.
var badInputs = []struct {
	name   string
	in     string
	errTxt string
	closes bool
}{
	{"unknown op", "FOO bar\r\n", "Unknown Protocol Operation", true},
	{"garbage bytes", "\x00\x01\x02\xff\r\n", "Unknown Protocol Operation", true},
	{"oversize control line", "SUB " + strings.Repeat("x", 5000) + " 1\r\n", "maximum control line exceeded", true},
	{"oversize without line end", "PUB " + strings.Repeat("y", 5000), "maximum control line exceeded", true},
	{"bad size", "PUB foo abc\r\n", "", true},
	{"negative size", "PUB foo -5\r\n", "", true},
	{"payload longer than size", "PUB foo 2\r\nhello\r\n", "Unknown Protocol Operation", true},
	{"payload over max_payload", "PUB foo 99999999\r\n", "Maximum Payload Violation", true},
	{"wrong argument count", "SUB foo\r\n", "", true},
	{"invalid subject", "SUB foo..bar 1\r\nPING\r\n", "Invalid Subject", false},
	{"wildcard not last", "SUB foo.>.bar 1\r\nPING\r\n", "Invalid Subject", false},
	{"bad connect json", "CONNECT {nope\r\n", "", true},
	{"hpub without headers", "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "", true},
}

func TestMalformedInputKeepsServingOthers(t *testing.T) {
	p := startNatsd(t)
	url := p.ClientURL()

	// A healthy publisher and subscriber run through the whole test.
	sub := connect(t, url)
	var got atomic.Int64
	if _, err := sub.Subscribe("healthy", func(*nats.Msg) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_ = sub.Flush()
	pub := connect(t, url)
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				_ = pub.Flush()
				return
			default:
			}
			if pub.Publish("healthy", []byte("ok")) == nil {
				sent.Add(1)
			}
			if sent.Load()%100 == 0 {
				_ = pub.Flush()
			}
		}
	}()

	for round := range 3 {
		var cwg sync.WaitGroup
		for _, bi := range badInputs {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				if err := checkBadInput(p.ClientAddr(), bi.in, bi.errTxt, bi.closes); err != nil {
					t.Errorf("round %d, %s: %v", round, bi.name, err)
				}
			}()
		}
		cwg.Wait()
	}
	close(stop)
	wg.Wait()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got.Load() != sent.Load() {
			return fmt.Errorf("healthy subscriber got %d of %d", got.Load(), sent.Load())
		}
		return nil
	})
	if sent.Load() == 0 {
		t.Fatal("the healthy publisher sent nothing")
	}
}

// checkBadInput sends in on a fresh connection (after CONNECT) and checks
// the reply.
func checkBadInput(addr, in, errTxt string, closes bool) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n" + in)); err != nil {
		return err
	}
	var all []byte
	buf := make([]byte, 4096)
	closed := false
	_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	for {
		n, err := c.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			closed = !isTimeoutErr(err)
			break
		}
		if !closes && strings.Contains(string(all), "PONG\r\n") {
			break
		}
	}
	out := string(all)
	if errTxt != "" && !strings.Contains(out, "-ERR '"+errTxt+"'\r\n") {
		return fmt.Errorf("no -ERR '%s' in %q", errTxt, out)
	}
	if errTxt == "" && strings.Contains(out, "-ERR") {
		return fmt.Errorf("unexpected -ERR in %q", out)
	}
	if closed != closes {
		return fmt.Errorf("closed = %v, want %v (got %q)", closed, closes, out)
	}
	return nil
}
