//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// The signals only Unix has (SIGUSR1, SIGUSR2).

// SIGUSR1 reopens the log file (rotation).
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "natsd.log")
	p := startNatsd(t, "-l", logPath)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGUSR1)
	testutil.Eventually(t, 3*time.Second, func() error {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "File log re-opened") {
			return errors.New("no re-open line in the new file")
		}
		return nil
	})
	old, _ := os.ReadFile(logPath + ".1")
	if !strings.Contains(string(old), "Server is ready") {
		t.Fatal("the rotated file lost its lines")
	}
}

// SIGUSR2: lame duck mode — no new clients, clients told (ldm), closed after
// the grace period, then exit 0.
func TestLameDuckMode(t *testing.T) {
	p := startNatsdConf(t, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n")
	ldm := make(chan struct{}, 1)
	closed := make(chan struct{})
	nc := connect(t, p.ClientURL(), nats.NoReconnect(),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	_ = nc.Flush()
	start := time.Now()
	p.Signal(syscall.SIGUSR2)
	select {
	case <-ldm:
	case <-time.After(3 * time.Second):
		t.Fatal("the client was not told about lame duck mode")
	}
	if _, err := nats.Connect(p.ClientURL(), nats.Timeout(500*time.Millisecond)); err == nil {
		t.Fatal("a new client was accepted in lame duck mode")
	}
	p.Signal(syscall.SIGTERM) // ignored while draining
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not closed")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("closed after %v, before the 1s grace period", d)
	}
	if code := p.ExitCode(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// Lame duck mode is announced in the system account on
// $SYS.SERVER.<id>.LAMEDUCK: the server info alone, as nats-server sends it.
func TestSystemAccountLameDuckEvent(t *testing.T) {
	p := startNatsdConf(t, sysConf+"http: 127.0.0.1:-1\nlame_duck_duration: 30s\nlame_duck_grace_period: 5s\n")
	sys := connect(t, p.ClientURL(), nats.UserInfo("sys", "sys"))
	id := httpGet(t, p.MonitorURL()+"/varz")["server_id"].(string)
	events, _ := sys.SubscribeSync("$SYS.SERVER." + id + ".LAMEDUCK")
	_ = sys.Flush()
	p.Signal(syscall.SIGUSR2)
	m, err := events.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no LAMEDUCK event: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev["id"] != id || ev["name"] == nil {
		t.Errorf("LAMEDUCK event %s (%v): want the server info alone", m.Data, err)
	}
	p.Signal(syscall.SIGINT) // ends the drain
}
