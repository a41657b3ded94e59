package jsclustertest

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReadMode is how the workload's gets read a key.
type ReadMode int

const (
	// ReadDirect is nats.go's kv.Get: a direct get ($JS.API.DIRECT.GET),
	// which any replica of a bucket with allow_direct may answer.
	ReadDirect ReadMode = iota
	// ReadLeader asks the stream's leader ($JS.API.STREAM.MSG.GET with
	// last_by_subj), as a linearizable read must.
	ReadLeader
)

func (m ReadMode) String() string {
	if m == ReadLeader {
		return "leader reads"
	}
	return "direct reads"
}

// KVWorkload describes the clients of StartKV.
type KVWorkload struct {
	Bucket    string        // an existing bucket
	Clients   int           // default: one per node; client i is connected to node i mod N first
	Keys      int           // default 3
	OpTimeout time.Duration // default 2 s; an operation that takes longer is unknown
	Reads     ReadMode
}

// KVRun is a running workload.
type KVRun struct {
	w       KVWorkload
	start   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	nextID  atomic.Int64
	mu      sync.Mutex
	ops     []porcupine.Operation
	stopped bool
}

// StartKV starts the workload's clients on c. Stop them with Stop, which
// returns the history for CheckKV.
func StartKV(t testing.TB, c *Cluster, w KVWorkload) *KVRun {
	t.Helper()
	if w.Clients == 0 {
		w.Clients = c.N()
	}
	if w.Keys == 0 {
		w.Keys = 3
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 2 * time.Second
	}
	r := &KVRun{w: w, start: time.Now(), stop: make(chan struct{})}
	for i := range w.Clients {
		nc := c.Connect(i % c.N())
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kv, err := js.KeyValue(ctx, w.Bucket)
		cancel()
		if err != nil {
			t.Fatalf("client %d: bucket %s: %v", i, w.Bucket, err)
		}
		cl := &kvClient{run: r, nc: nc, kv: kv, node: i % c.N(), id: int(r.nextID.Add(1) - 1),
			rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), seen: map[string]uint64{}}
		r.wg.Go(func() { cl.loop(i) })
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// now is the time since the workload started, porcupine's clock.
func (r *KVRun) now() int64 { return int64(time.Since(r.start)) }

func (r *KVRun) record(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// Stop stops the clients (each finishes its operation in progress) and
// returns the history: operations of unknown outcome end at its end.
func (r *KVRun) Stop() KVHistory {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.now()
	ops := append([]porcupine.Operation(nil), r.ops...)
	for i := range ops {
		if ops[i].Output.(KVOutput).Unknown {
			ops[i].Return = end
		}
	}
	return KVHistory{Ops: ops, Reads: r.w.Reads}
}

// kvClient is one client: its connection, its clock, the revisions it saw.
type kvClient struct {
	run  *KVRun
	nc   *nats.Conn
	kv   jetstream.KeyValue
	node int
	id   int // porcupine client id; a new one after an unknown outcome
	rnd  *rand.Rand
	seen map[string]uint64 // key → last revision this client saw
}

func (cl *kvClient) loop(n int) {
	w := cl.run.w
	for seq := 0; ; seq++ {
		select {
		case <-cl.run.stop:
			return
		default:
		}
		key := fmt.Sprintf("k%d", cl.rnd.IntN(w.Keys))
		in := KVInput{Key: key, Value: fmt.Sprintf("c%d-%d", n, seq)}
		switch p := cl.rnd.IntN(10); {
		case p < 4:
			in.Op = opGet
		case p < 7:
			in.Op = opPut
		default:
			in.Op, in.Expect = opCAS, cl.seen[key]
		}
		call := cl.run.now()
		out := cl.do(in)
		ret := cl.run.now()
		if in.Op == opGet && out.Unknown {
			continue // a read that failed constrains nothing
		}
		cl.run.record(porcupine.Operation{ClientId: cl.id, Input: in, Call: call, Output: out, Return: ret,
			Metadata: fmt.Sprintf("client %d, connected to n%d first", n, cl.node+1)})
		if out.Unknown {
			// The unknown operation stays open to the end of the history:
			// further operations go in a lane of their own.
			cl.id = int(cl.run.nextID.Add(1) - 1)
		}
		// A moment between operations keeps the history small enough to
		// check quickly and leaves CPU to the servers (CI has two cores).
		time.Sleep(time.Duration(5+cl.rnd.IntN(10)) * time.Millisecond)
	}
}

// do runs one operation against the bucket.
func (cl *kvClient) do(in KVInput) KVOutput {
	ctx, cancel := context.WithTimeout(context.Background(), cl.run.w.OpTimeout)
	defer cancel()
	switch in.Op {
	case opPut:
		rev, err := cl.kv.Put(ctx, in.Key, []byte(in.Value))
		if err != nil {
			return KVOutput{Unknown: true, Err: err.Error()}
		}
		cl.seen[in.Key] = rev
		return KVOutput{Rev: rev}
	case opCAS:
		rev, err := cl.kv.Update(ctx, in.Key, []byte(in.Value), in.Expect)
		switch {
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			var ae *jetstream.APIError
			busy := errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
			return KVOutput{OK: false, Busy: busy, Err: err.Error()}
		case err != nil:
			return KVOutput{Unknown: true, Err: err.Error()}
		}
		cl.seen[in.Key] = rev
		return KVOutput{OK: true, Rev: rev}
	default:
		return cl.get(ctx, in.Key)
	}
}

func (cl *kvClient) get(ctx context.Context, key string) KVOutput {
	if cl.run.w.Reads == ReadLeader {
		m, err, final := msgGetOnce(cl.nc, "KV_"+cl.run.w.Bucket, mustJSON(map[string]any{"last_by_subj": "$KV." + cl.run.w.Bucket + "." + key}))
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.ErrCode == errCodeNoMessage:
			return KVOutput{Found: false}
		case err != nil || !final:
			return KVOutput{Unknown: true, Err: fmt.Sprint(err)}
		}
		cl.seen[key] = m.Seq
		return KVOutput{Found: true, Value: string(m.Data), Rev: m.Seq}
	}
	e, err := cl.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return KVOutput{Found: false}
	case err != nil:
		return KVOutput{Unknown: true, Err: err.Error()}
	}
	cl.seen[key] = e.Revision()
	return KVOutput{Found: true, Value: string(e.Value()), Rev: e.Revision()}
}

// KVHistory is what a workload's clients saw.
type KVHistory struct {
	Ops   []porcupine.Operation
	Reads ReadMode
}

// Counts summarises the history: operations by outcome.
func (h KVHistory) Counts() string {
	var puts, gets, casOK, casFail, busy, unknown int
	for _, op := range h.Ops {
		in, out := op.Input.(KVInput), op.Output.(KVOutput)
		switch {
		case out.Unknown:
			unknown++
		case in.Op == opPut:
			puts++
		case in.Op == opGet:
			gets++
		case out.OK:
			casOK++
		case out.Busy:
			busy++
		default:
			casFail++
		}
	}
	return fmt.Sprintf("%d operations (%s): %d puts, %d gets, %d cas ok, %d cas refused (wrong revision), %d cas refused busy (10164), %d unknown",
		len(h.Ops), h.Reads, puts, gets, casOK, casFail, busy, unknown)
}

// checkTimeout bounds porcupine's search.
const checkTimeout = 60 * time.Second

// CheckKV checks h for linearizability and reports whether it is. On a
// violation (or a check that could not finish) it fails the test and
// writes porcupine's visualisation to an HTML file whose path it reports.
func CheckKV(t testing.TB, h KVHistory) bool {
	t.Helper()
	return checkKV(t, h, t.Errorf)
}

// ReportKV is CheckKV for a history that is not required to be
// linearizable (the reference's): the verdict and the files are logged,
// and the test does not fail.
func ReportKV(t testing.TB, h KVHistory) bool {
	t.Helper()
	return checkKV(t, h, t.Logf)
}

func checkKV(t testing.TB, h KVHistory, verdict func(format string, args ...any)) bool {
	t.Helper()
	model := kvModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, h.Ops, checkTimeout)
	if res == porcupine.Ok {
		t.Logf("linearizable: %s", h.Counts())
		return true
	}
	path := visualizationPath(t)
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Errorf("writing the visualisation: %v", err)
	}
	text := strings.TrimSuffix(path, ".html") + ".txt"
	if err := os.WriteFile(text, []byte(h.String()), 0o644); err != nil {
		t.Errorf("writing the history: %v", err)
	}
	if res == porcupine.Illegal {
		verdict("NOT linearizable: %s; porcupine's visualisation: %s, the history as text: %s", h.Counts(), path, text)
	} else {
		verdict("linearizability check inconclusive after %v: %s; visualisation: %s, history: %s", checkTimeout, h.Counts(), path, text)
	}
	return false
}

// String is the history as text, one operation a line in call order:
// call and return times (ms since the start; unknown outcomes return at the
// end), lane, operation and outcome, and the client.
func (h KVHistory) String() string {
	ops := append([]porcupine.Operation(nil), h.Ops...)
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, "%10.3f %10.3f lane %-3d %-60s %v\n", float64(op.Call)/1e6, float64(op.Return)/1e6,
			op.ClientId, kvModel.DescribeOperation(op.Input, op.Output), op.Metadata)
	}
	return b.String()
}

// visualizationPath is a file that outlives the test: in its artifact
// directory with `go test -artifacts`, else in a new directory under the
// system's temporary directory.
func visualizationPath(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".html"
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		if ad, ok := t.(interface{ ArtifactDir() string }); ok {
			return filepath.Join(ad.ArtifactDir(), name)
		}
	}
	dir, err := os.MkdirTemp("", "porcupine-")
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, name)
}

// Len is the number of operations recorded so far.
func (r *KVRun) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Known is the number of operations recorded so far whose outcome is known.
func (r *KVRun) Known() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, op := range r.ops {
		if !op.Output.(KVOutput).Unknown {
			n++
		}
	}
	return n
}
