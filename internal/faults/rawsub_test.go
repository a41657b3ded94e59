package faults

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// rawSub is a subscriber speaking the protocol by hand: it reads in 1 MiB
// blocks and hands each message's payload, in place, to a function — no
// allocation and no goroutine hand-off per message, unlike a nats.go
// subscription. A flood's subscriber must drain its server faster than the
// flood arrives, or the server rightly cuts it off as a slow consumer (as
// nats-server does too); in a -race test binary on two cores a nats.go
// subscriber does not.
type rawSub struct {
	nc     net.Conn
	wmu    sync.Mutex
	probed chan struct{} // a message on the probe subject arrived
}

// rawSubscribe subscribes to subject (sid 1) and subject.probe (sid 2) on
// n. Problems (an -ERR, the connection lost before the test closed it) go
// to probs.
func rawSubscribe(t *testing.T, n *node, subject string, see func([]byte), probs *errList) *rawSub {
	t.Helper()
	nc, err := net.DialTimeout("tcp", n.addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	rs := &rawSub{nc: nc, probed: make(chan struct{}, 1)}
	closing := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() {
		close(closing)
		_ = nc.Close()
		<-done
	})
	br := bufio.NewReaderSize(nc, 1<<20)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := br.ReadSlice('\n'); err != nil || !bytes.HasPrefix(line, []byte("INFO ")) {
		t.Fatalf("%s: greeting %q: %v", n.name, line, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	rs.send(t, `CONNECT {"verbose":false,"pedantic":false,"name":"faults-raw-`+n.name+`"}`+"\r\n"+
		"SUB "+subject+" 1\r\nSUB "+subject+".probe 2\r\nPING\r\n")
	ponged := make(chan struct{})
	go func() {
		defer close(done)
		err := rs.read(br, see, ponged)
		select {
		case <-closing:
		default:
			probs.add("raw subscriber on %s: %v", n.name, err)
		}
	}()
	select {
	case <-ponged:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no PONG to the raw subscriber's PING", n.name)
	}
	return rs
}

func (rs *rawSub) send(t *testing.T, s string) {
	t.Helper()
	if err := rs.write(s); err != nil {
		t.Fatal(err)
	}
}

func (rs *rawSub) write(s string) error {
	rs.wmu.Lock()
	defer rs.wmu.Unlock()
	_ = rs.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := rs.nc.Write([]byte(s))
	return err
}

// read serves the connection until it fails: MSG payloads to see (sid 1)
// or to probed (sid 2), PING answered, the first PONG signalled.
func (rs *rawSub) read(br *bufio.Reader, see func([]byte), ponged chan struct{}) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		switch {
		case bytes.HasPrefix(line, []byte("MSG ")):
			// MSG <subject> <sid> [reply] <size>: the size is last, the
			// sid second.
			args := bytes.TrimSuffix(line[4:], []byte("\r\n"))
			last := bytes.LastIndexByte(args, ' ')
			first := bytes.IndexByte(args, ' ')
			if last <= first {
				return errBadLine(bytes.Clone(line))
			}
			size := 0
			for _, b := range args[last+1:] {
				if b < '0' || b > '9' {
					return errBadLine(bytes.Clone(line))
				}
				size = size*10 + int(b-'0')
			}
			probe := args[first+1] == '2'
			payload, err := br.Peek(size + 2)
			if err != nil {
				return err
			}
			if probe {
				select {
				case rs.probed <- struct{}{}:
				default:
				}
			} else {
				see(payload[:size])
			}
			if _, err := br.Discard(size + 2); err != nil {
				return err
			}
		case bytes.Equal(line, []byte("PING\r\n")):
			if err := rs.write("PONG\r\n"); err != nil {
				return err
			}
		case bytes.Equal(line, []byte("PONG\r\n")):
			select {
			case <-ponged:
			default:
				close(ponged)
			}
		case bytes.HasPrefix(line, []byte("INFO ")), bytes.Equal(line, []byte("+OK\r\n")):
		default:
			return errBadLine(bytes.Clone(line))
		}
	}
}

type errBadLine []byte

func (e errBadLine) Error() string { return "unexpected line " + strconv.Quote(string(e)) }
