//go:build linux

package daemon

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Under systemd with stderr on the journal (JOURNAL_STREAM=DEV:INODE of
// stderr), each line starts with its syslog priority, which journald
// records; a stderr that is not the stream systemd named gets none.
func TestLogJournalPriorities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		matches bool
	}{{"journal", true}, {"another stream", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var st syscall.Stat_t
			if err := syscall.Fstat(int(w.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			ino := st.Ino
			if !tc.matches {
				ino++
			}
			t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, ino))
			l, err := newLogger(LogOptions{Debug: true, Trace: true}, w)
			if err != nil {
				t.Fatal(err)
			}
			l.Logger.Debug("a debug line")
			l.Info("an info line")
			l.Warn("a warning")
			l.Error("an error")
			w.Close()
			var lines []string
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			pre := "[" + strconv.Itoa(os.Getpid()) + "] "
			want := []string{"<7>" + pre + "[DBG] a debug line", "<6>" + pre + "[INF] an info line", "<4>" + pre + "[WRN] a warning", "<3>" + pre + "[ERR] an error"}
			if len(lines) != len(want) {
				t.Fatalf("lines %q", lines)
			}
			for i := range want {
				if !tc.matches {
					want[i] = want[i][3:]
				}
				if lines[i] != want[i] {
					t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
				}
			}
		})
	}
}

// log_size_limit rotates the file as nats-server v2.15.2 does (recorded):
// the full file is renamed FILE.<time>, the new one starts with
// `Rotated log, backup saved as "FILE.<time>"`, and log_max_num files are
// kept, the live one included. No line is lost from the files kept.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "natsd.log")
	l, err := newLogger(LogOptions{File: path, SizeLimit: 400, MaxNum: 3}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		l.Info(fmt.Sprintf("line %02d of forty", i))
	}
	_ = l.Sync()
	l.sink.close()
	backups, _ := filepath.Glob(path + ".*")
	if len(backups) != 2 {
		t.Fatalf("%d rotated files, want 2 (log_max_num 3 with the live one): %v", len(backups), backups)
	}
	all := ""
	for _, f := range append(backups, path) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(f); fi.Size() > 400 {
			t.Errorf("%s has %d bytes, over log_size_limit 400", f, fi.Size())
		}
		all += string(b)
	}
	live, _ := os.ReadFile(path)
	first, _, _ := strings.Cut(string(live), "\n")
	if !strings.Contains(first, fmt.Sprintf("[INF] Rotated log, backup saved as %q", backups[1])) {
		t.Fatalf("the live file starts %q, want the note naming %s", first, backups[1])
	}
	if !strings.Contains(all, "line 39 of forty") {
		t.Fatal("the last line is lost")
	}
	// The kept files hold a run of consecutive lines up to the last.
	var got []int
	for _, line := range strings.Split(all, "\n") {
		var n int
		if _, err := fmt.Sscanf(line[strings.Index(line+"line ", "line "):], "line %d of forty", &n); err == nil {
			got = append(got, n)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("lines kept are not consecutive: %v", got)
		}
	}
}

// remote_syslog sends each line to a syslog server, UDP or TCP, with the
// level's severity (facility daemon) and without natsd's own [pid], time
// and [LVL].
func TestLogRemoteSyslog(t *testing.T) {
	t.Run("udp", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		l, err := newLogger(LogOptions{RemoteSyslog: "udp://" + pc.LocalAddr().String()}, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.sink.close()
		l.Info("hello info")
		l.Warn("hello warning")
		buf := make([]byte, 2048)
		for _, want := range []string{"<29>", "<28>"} {
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			m := string(buf[:n])
			t.Logf("received %q", m)
			if !strings.HasPrefix(m, want) || strings.Contains(m, "[INF]") || strings.Contains(m, "[WRN]") || !strings.Contains(m, "]: hello") {
				t.Fatalf("%q: want priority %s, the message, no level tag", m, want)
			}
		}
	})
	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
		}()
		l, err := newLogger(LogOptions{RemoteSyslog: "tcp://" + ln.Addr().String()}, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.sink.close()
		l.Error("hello error")
		select {
		case m := <-got:
			if !strings.HasPrefix(m, "<27>") || !strings.Contains(m, "]: hello error") {
				t.Fatalf("%q: want <27> and the message", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing received")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		_, err := newLogger(LogOptions{RemoteSyslog: "unix://" + filepath.Join(t.TempDir(), "none")}, os.Stderr)
		if err == nil || !strings.Contains(err.Error(), "remote_syslog") {
			t.Fatalf("err %v, want remote_syslog's", err)
		}
	})
}

func TestSyslogAddr(t *testing.T) {
	for _, tc := range []struct{ in, network, addr, err string }{
		{"udp://127.0.0.1:5514", "udp", "127.0.0.1:5514", ""},
		{"tcp://logs.example:601", "tcp", "logs.example:601", ""},
		{"udp://127.0.0.1", "udp", "127.0.0.1:514", ""},
		{"127.0.0.1:5514", "udp", "127.0.0.1:5514", ""},
		{"unix:///dev/log", "unix", "/dev/log", ""},
		{"http://x:1", "", "", "unknown scheme"},
		{"udp://", "", "", "no host"},
	} {
		n, a, err := syslogAddr(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("%s: %s %s %v, want %s %s", tc.in, n, a, err, tc.network, tc.addr)
		}
	}
}

// nats-server's logging keys, both spellings, are read; a bad
// remote_syslog is an error at its position.
func TestBuildLogOptions(t *testing.T) {
	conf := "syslog: true\nremote_syslog: \"udp://127.0.0.1:5514\"\nlogfile_size_limit: 1KB\nlogfile_max_num: 4\n"
	o := mustBuild(t, conf)
	if !o.Log.Syslog || o.Log.RemoteSyslog != "udp://127.0.0.1:5514" || o.Log.SizeLimit != 1024 || o.Log.MaxNum != 4 {
		t.Fatalf("%+v", o.Log)
	}
	o = mustBuild(t, "log_size_limit: 2048\nlog_max_num: 2\n")
	if o.Log.SizeLimit != 2048 || o.Log.MaxNum != 2 {
		t.Fatalf("%+v", o.Log)
	}
	path := filepath.Join(t.TempDir(), "bad.conf")
	writeTestFile(t, path, "listen: 127.0.0.1:-1\nremote_syslog: \"http://x:1\"\n")
	_, _, err := Load(&Flags{ConfigFile: path})
	if err == nil || !strings.Contains(err.Error(), path+":2:16: remote_syslog: unknown scheme") {
		t.Fatalf("err %v", err)
	}
}

func mustBuild(t *testing.T, conf string) *Options {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natsd.conf")
	writeTestFile(t, path, conf)
	o, _, err := Load(&Flags{ConfigFile: path})
	if err != nil {
		t.Fatal(err)
	}
	return o
}
