package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream with the nats CLI (natscli v0.5.0), as an operator uses it,
// against natsd and, with the same expectations, nats-server v2.15.2:
// streams (add, ls, info, rm), publishing, pull consumers (add, next),
// key-value (put, get, history) and the object store (put, get). What the
// CLI did is checked from the other side with nats.go's jetstream package.
// Backups (`nats stream backup`/`restore`) are in backup_test.go.
func TestJetStreamCLI(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			cli := newNatsCLI(t, p.ClientURL())
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)

			// Streams and publishing.
			if out := cli.mustRun(t, "stream", "add", "ORDERS", "--subjects", "orders.>", "--storage", "file", "--defaults"); !strings.Contains(out, "Stream ORDERS was created") {
				t.Fatalf("stream add: %s", out)
			}
			s, err := js.Stream(ctx, "ORDERS")
			if err != nil || s.CachedInfo().Config.Subjects[0] != "orders.>" || s.CachedInfo().Config.Storage != jetstream.FileStorage {
				t.Fatalf("the stream the CLI made: %+v %v", s, err)
			}
			if out := cli.mustRun(t, "stream", "ls", "-n"); strings.TrimSpace(out) != "ORDERS" {
				t.Fatalf("stream ls -n: %q", out)
			}
			cli.mustRun(t, "pub", "orders.1", "hello {{Count}}", "--count", "3", "-H", "K:v")
			var info struct {
				Config struct{ Name string } `json:"config"`
				State  struct {
					Messages uint64 `json:"messages"`
					LastSeq  uint64 `json:"last_seq"`
				} `json:"state"`
			}
			if err := json.Unmarshal([]byte(cli.mustRun(t, "stream", "info", "ORDERS", "-j")), &info); err != nil {
				t.Fatalf("stream info -j: %v", err)
			}
			if info.Config.Name != "ORDERS" || info.State.Messages != 3 || info.State.LastSeq != 3 {
				t.Fatalf("stream info -j: %+v", info)
			}
			m, err := s.GetMsg(ctx, 1)
			if err != nil || string(m.Data) != "hello 1" || m.Header.Get("K") != "v" || m.Subject != "orders.1" {
				t.Fatalf("message 1 as published by the CLI: %+v %v", m, err)
			}

			// A pull consumer: next acknowledges what it prints.
			cli.mustRun(t, "consumer", "add", "ORDERS", "C", "--pull", "--defaults")
			out := cli.mustRun(t, "consumer", "next", "ORDERS", "C", "--count", "2", "--raw")
			if got := strings.Fields(out); strings.Join(got, " ") != "hello 1 hello 2" {
				t.Fatalf("consumer next --count 2: %q", out)
			}
			c, err := s.Consumer(ctx, "C")
			if err != nil {
				t.Fatal(err)
			}
			ci, err := c.Info(ctx)
			if err != nil || ci.AckFloor.Stream != 2 || ci.NumPending != 1 || ci.NumAckPending != 0 {
				t.Fatalf("consumer after next: %+v %v", ci, err)
			}

			// Key-value.
			cli.mustRun(t, "kv", "add", "CFG", "--history", "5")
			cli.mustRun(t, "kv", "put", "CFG", "color", "red")
			cli.mustRun(t, "kv", "put", "CFG", "color", "blue")
			if out := cli.mustRun(t, "kv", "get", "CFG", "color", "--raw"); strings.TrimSpace(out) != "blue" {
				t.Fatalf("kv get --raw: %q", out)
			}
			kv, err := js.KeyValue(ctx, "CFG")
			if err != nil {
				t.Fatal(err)
			}
			e, err := kv.Get(ctx, "color")
			if err != nil || string(e.Value()) != "blue" || e.Revision() != 2 {
				t.Fatalf("kv get with nats.go: %v %v", e, err)
			}
			if _, err := kv.Put(ctx, "color", []byte("green")); err != nil {
				t.Fatal(err)
			}
			hist := cli.mustRun(t, "kv", "history", "CFG", "color")
			for _, want := range []string{"red", "blue", "green", "│        3 │ PUT"} {
				if !strings.Contains(hist, want) {
					t.Fatalf("kv history lacks %q:\n%s", want, hist)
				}
			}
			if i, j := strings.Index(hist, "red"), strings.Index(hist, "green"); i > j {
				t.Fatalf("kv history out of order:\n%s", hist)
			}

			// The object store: a 3 MB file (23 chunks) both ways.
			blob := make([]byte, 3_000_000)
			_, _ = rand.Read(blob)
			dir := t.TempDir()
			in, outFile := filepath.Join(dir, "blob"), filepath.Join(dir, "blob.out")
			if err := os.WriteFile(in, blob, 0o600); err != nil {
				t.Fatal(err)
			}
			cli.mustRun(t, "object", "add", "FILES")
			cli.mustRun(t, "object", "put", "FILES", in, "--name", "blob")
			cli.mustRun(t, "object", "get", "FILES", "blob", "-O", outFile)
			if got, err := os.ReadFile(outFile); err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("object get: %d bytes, %v", len(got), err)
			}
			obs, err := js.ObjectStore(ctx, "FILES")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := obs.GetBytes(ctx, "blob"); err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("object get with nats.go: %d bytes, %v", len(got), err)
			}

			// Removing the stream.
			cli.mustRun(t, "stream", "rm", "ORDERS", "-f")
			if _, err := js.Stream(ctx, "ORDERS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("after stream rm: %v", err)
			}
			if out := cli.mustRun(t, "stream", "ls", "-n"); strings.Contains(out, "ORDERS") || !strings.Contains(out, "KV_CFG") || !strings.Contains(out, "OBJ_FILES") {
				t.Fatalf("stream ls -n after rm: %q", out)
			}
		})
	}
}
