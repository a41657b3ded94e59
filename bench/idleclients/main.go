// Command idleclients opens N raw TCP connections to a NATS server, does
// the minimal client handshake on each (read INFO, send
// `CONNECT {"verbose":false}` and PING, wait for PONG), then holds them
// idle until its standard input closes or it gets SIGINT/SIGTERM.
//
// It prints "READY <n> <seconds>" on standard output once every
// connection has seen its PONG, so that a driver (bench/runner) can then
// measure the server's memory with N idle clients. While holding, it
// answers the server's PINGs so that no connection is dropped as stale.
//
// Standard library only, so that it measures the server and nothing else.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4222", "server address host:port")
	n := flag.Int("n", 10000, "number of connections")
	parallel := flag.Int("parallel", 64, "connections set up at once")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up if the connections are not all up within this")
	flag.Parse()
	if err := run(*addr, *n, *parallel, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "idleclients: %v\n", err)
		os.Exit(1)
	}
}

func run(addr string, n, parallel int, timeout time.Duration) error {
	raiseNoFile(uint64(n) + 256)
	start := time.Now()
	deadline := start.Add(timeout)

	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	var firstErr atomic.Pointer[error]
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				c, r, err := handshake(addr, deadline)
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				conns[i], readers[i] = c, r
			}
		})
	}
	wg.Wait()
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	if p := firstErr.Load(); p != nil {
		closeAll()
		return *p
	}

	// Hold: answer PINGs, notice a connection the server closes.
	var dropped atomic.Int64
	for i, c := range conns {
		go hold(c, readers[i], &dropped)
	}
	fmt.Printf("READY %d %.3f\n", n, time.Since(start).Seconds())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	}
	closeAll()
	if d := dropped.Load(); d > 0 {
		return fmt.Errorf("the server closed %d of %d connections while they were idle", d, n)
	}
	return nil
}

// handshake dials addr, reads INFO, sends CONNECT and PING and waits for PONG.
func handshake(addr string, deadline time.Time) (net.Conn, *bufio.Reader, error) {
	var c net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			break
		}
		// A full accept backlog shows up as a refused or timed-out dial: retry.
		if attempt >= 20 || time.Now().After(deadline) {
			return nil, nil, err
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	_ = c.SetDeadline(deadline)
	r := bufio.NewReaderSize(c, 1024)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("reading INFO: %w", err)
	}
	if !strings.HasPrefix(line, "INFO ") {
		c.Close()
		return nil, nil, fmt.Errorf("expected INFO, got %q", trim(line))
	}
	if _, err := io.WriteString(c, "CONNECT {\"verbose\":false}\r\nPING\r\n"); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("sending CONNECT: %w", err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("waiting for PONG: %w", err)
		}
		switch {
		case strings.HasPrefix(line, "PONG"):
			_ = c.SetDeadline(time.Time{})
			return c, r, nil
		case strings.HasPrefix(line, "PING"):
			if _, err := io.WriteString(c, "PONG\r\n"); err != nil {
				c.Close()
				return nil, nil, err
			}
		case strings.HasPrefix(line, "-ERR"):
			c.Close()
			return nil, nil, errors.New(trim(line))
		}
	}
}

func hold(c net.Conn, r *bufio.Reader, dropped *atomic.Int64) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				dropped.Add(1)
			}
			return
		}
		if strings.HasPrefix(line, "PING") {
			if _, err := io.WriteString(c, "PONG\r\n"); err != nil {
				return
			}
		}
	}
}

func trim(s string) string { return strings.TrimRight(s, "\r\n") }
