package daemon

import "testing"

const base = "listen: 127.0.0.1:-1\n"

// A reload that fails changes nothing, and says so: no change is counted
// against it (it used to be counted against empty options).
func TestFailedReloadCountsNoChange(t *testing.T) {
	td := startDaemon(t, base+"max_payload: 2048\n")
	err := td.reloadWith(base + "max_payload: 4096\ncluster {\n  port: 70000\n}\n")
	if err == nil {
		t.Fatal("a config with cluster.port 70000 reloaded")
	}
	d := td.Daemon
	d.mu.Lock()
	lr := d.lastReload
	d.mu.Unlock()
	if lr.Err == nil || lr.Changes != 0 {
		t.Errorf("last reload %+v: want the error and 0 changes", lr)
	}
	if got := d.srv.Options().MaxPayload; got != 2048 {
		t.Errorf("max_payload %d: part of a failed reload was applied", got)
	}
}
