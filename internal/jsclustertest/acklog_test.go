package jsclustertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/jsclustertest"
	"github.com/natsd/natsd/internal/testutil"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// AckLog.Verify can fail: against one natsd with JetStream (single-server
// JetStream is served today), acknowledgements that the stream does not
// hold — a sequence never stored, a message changed, one sequence
// acknowledged for two messages — are each named; the true ones pass.
func TestAckLogVerifyFindsLossAndChange(t *testing.T) {
	t.Parallel()
	conf := testutil.WriteFile(t, "js.conf", fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\n", t.TempDir()))
	p := testutil.Start(t, testutil.NatsdBin(t), "-c", conf)
	nc, err := nats.Connect(p.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AL", Subjects: []string{"AL.>"}}); err != nil {
		t.Fatal(err)
	}
	var log jsclustertest.AckLog
	for i := range 3 {
		if _, err := log.Publish(ctx, js, "AL.x", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	log.Verify(t, js) // the true acknowledgements pass

	log.Record("AL", 2, "AL.x", []byte("changed")) // seq 2 holds "m1"
	log.Record("AL", 9, "AL.x", []byte("lost"))    // never stored
	r := &recorder{TB: t}
	log.Verify(r, js)
	all := strings.Join(r.errs, "\n")
	for _, want := range []string{
		`AL seq 2 acknowledged twice: for "m1" on AL.x and for "changed" on AL.x`,
		`AL seq 9 ("lost" on AL.x) acknowledged, now: no message found`,
		"2 of 5 acknowledged messages lost or changed",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Verify's report lacks %q; it said:\n%s", want, all)
		}
	}

	// A changed message (the stream holds another at the acknowledged
	// sequence) is named too.
	var other jsclustertest.AckLog
	other.Record("AL", 3, "AL.x", []byte("not m2"))
	r = &recorder{TB: t}
	other.Verify(r, js)
	if all := strings.Join(r.errs, "\n"); !strings.Contains(all, `AL seq 3 acknowledged as "not m2" on AL.x, reads "m2" on AL.x`) {
		t.Errorf("Verify did not name the changed message; it said:\n%s", all)
	}
}
