package faultfs

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

func write(t *testing.T, f *FS, name string, data string, sync bool) {
	t.Helper()
	h, err := f.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := h.Stat()
	if _, err := h.WriteAt([]byte(data), fi.Size()); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
}

func content(f *FS, name string) string {
	b, err := f.ReadFile(name)
	if err != nil {
		return "<none>"
	}
	return string(b)
}

func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o750)
	write(t, f, "/d/a", "synced", true)
	f.SyncDir("/d")
	write(t, f, "/d/a", "+lost", false)
	write(t, f, "/d/b", "named-but-dir-not-synced", true)
	f.Crash(DropUnsynced)
	if got := content(f, "/d/a"); got != "synced" {
		t.Fatalf("a = %q", got)
	}
	if got := content(f, "/d/b"); got != "<none>" {
		t.Fatalf("b survived without SyncDir: %q", got)
	}
	write(t, f, "/d/a", "12345", false)
	f.Crash(func(string, int) (int, int) { return 0, 3 }) // torn after 3 bytes
	if got := content(f, "/d/a"); got != "synced123" {
		t.Fatalf("torn: %q", got)
	}
}

func TestRemoveNeedsSyncDir(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o750)
	write(t, f, "/d/a", "x", true)
	f.SyncDir("/d")
	f.Remove("/d/a")
	f.Crash(DropUnsynced)
	if got := content(f, "/d/a"); got != "x" {
		t.Fatalf("an unsynced remove held: %q", got)
	}
}

func TestNoSpaceAndFailAfter(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o750)
	h, _ := f.OpenFile("/d/a", os.O_RDWR|os.O_CREATE, 0o640)
	f.SetSpace(4)
	n, err := h.WriteAt([]byte("123456"), 0)
	if n != 4 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %d, %v", n, err)
	}
	f.SetSpace(-1)
	f.FailAfter(1)
	if _, err := h.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); !errors.Is(err, ErrCrashed) || !f.Crashed() {
		t.Fatalf("past the crash point: %v", err)
	}
	f.Crash(DropUnsynced)
	if _, err := h.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("a handle from before the crash: %v", err)
	}
}

func TestFlipBit(t *testing.T) {
	f := New()
	f.MkdirAll("/d", 0o750)
	write(t, f, "/d/a", "A", true)
	f.SyncDir("/d")
	f.FlipBit("/d/a", 0, 1)
	f.Crash(DropUnsynced)
	if got := content(f, "/d/a"); got != "C" {
		t.Fatalf("flipped: %q", got)
	}
}
