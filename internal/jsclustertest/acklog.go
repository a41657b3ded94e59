package jsclustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Ack is one publish acknowledgement a test client received: the server
// promised that Data, published to Subject, is stored in Stream at Seq.
type Ack struct {
	Stream  string
	Seq     uint64
	Subject string
	Data    []byte
}

// AckLog records every acknowledgement a test's clients received, from any
// goroutine, so that Verify can read each one back at the end: an
// acknowledged write must never be lost or changed, whatever the faults.
type AckLog struct {
	mu   sync.Mutex
	acks []Ack
}

// Record notes an acknowledgement.
func (l *AckLog) Record(stream string, seq uint64, subject string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, Ack{Stream: stream, Seq: seq, Subject: subject, Data: bytes.Clone(data)})
}

// Publish publishes data to subject and records the acknowledgement, if
// one comes. An error means the outcome is unknown: nothing is recorded
// (the message may or may not be stored; Verify only holds the server to
// what it acknowledged).
func (l *AckLog) Publish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := js.Publish(ctx, subject, data, opts...)
	if err != nil {
		return nil, err
	}
	l.Record(ack.Stream, ack.Sequence, subject, data)
	return ack, nil
}

// Len is the number of acknowledgements recorded.
func (l *AckLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// Acks is a copy of the acknowledgements recorded.
func (l *AckLog) Acks() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Ack(nil), l.acks...)
}

// LastSeq is the highest sequence acknowledged in stream.
func (l *AckLog) LastSeq(stream string) uint64 {
	var last uint64
	for _, a := range l.Acks() {
		if a.Stream == stream {
			last = max(last, a.Seq)
		}
	}
	return last
}

// verifyTimeout bounds the retries of one read (a leader may be moving).
const verifyTimeout = 20 * time.Second

// Verify reads every acknowledged message back by sequence through the
// stream's leader (the $JS.API.STREAM.MSG.GET request, never a direct get
// that a lagging replica could answer) on js's connection, and fails the
// test naming each one lost or changed, and any sequence acknowledged
// for two different messages.
func (l *AckLog) Verify(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	acks := l.Acks()
	type key struct {
		stream string
		seq    uint64
	}
	seen := map[key]Ack{}
	var problems []string
	for _, a := range acks {
		k := key{a.Stream, a.Seq}
		if prev, ok := seen[k]; ok {
			if prev.Subject != a.Subject || !bytes.Equal(prev.Data, a.Data) {
				problems = append(problems, fmt.Sprintf("%s seq %d acknowledged twice: for %q on %s and for %q on %s",
					a.Stream, a.Seq, prev.Data, prev.Subject, a.Data, a.Subject))
			}
			continue
		}
		seen[k] = a
		m, err := getMsg(js.Conn(), a.Stream, a.Seq)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s seq %d (%q on %s) acknowledged, now: %v", a.Stream, a.Seq, a.Data, a.Subject, err))
		case m.Subject != a.Subject || !bytes.Equal(m.Data, a.Data):
			problems = append(problems, fmt.Sprintf("%s seq %d acknowledged as %q on %s, reads %q on %s",
				a.Stream, a.Seq, a.Data, a.Subject, m.Data, m.Subject))
		}
	}
	if len(problems) == 0 {
		t.Logf("AckLog: all %d acknowledged messages read back intact", len(seen))
		return
	}
	const show = 30
	for i, p := range problems {
		if i == show {
			t.Errorf("... and %d more", len(problems)-show)
			break
		}
		t.Error(p)
	}
	t.Errorf("AckLog: %d of %d acknowledged messages lost or changed", len(problems), len(acks))
}

// StoredMsg is a message as the stream's leader returns it.
type StoredMsg struct {
	Subject string `json:"subject"`
	Seq     uint64 `json:"seq"`
	Data    []byte `json:"data"`
}

// apiError is the error of a JetStream API response.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (code %d, err_code %d)", e.Description, e.Code, e.ErrCode)
}

// errCodeNoMessage is JetStream's "no message found" (10037).
const errCodeNoMessage = 10037

// getMsg asks stream's leader for the message at seq. Errors that say
// nothing about the message (a timeout, no responders, a leader being
// elected) are retried for up to verifyTimeout; an API answer is final.
func getMsg(nc *nats.Conn, stream string, seq uint64) (*StoredMsg, error) {
	body := mustJSON(map[string]any{"seq": seq})
	deadline := time.Now().Add(verifyTimeout)
	for {
		m, err, final := msgGetOnce(nc, stream, body)
		if final || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// msgGetOnce makes one $JS.API.STREAM.MSG.GET request; final says whether
// the answer is the stream's (a message or an API error) rather than a
// transport failure or the cluster being busy.
func msgGetOnce(nc *nats.Conn, stream string, body []byte) (*StoredMsg, error, bool) {
	resp, err := nc.Request("$JS.API.STREAM.MSG.GET."+stream, body, requestTimeout)
	if err != nil {
		return nil, err, false
	}
	var r struct {
		Message *StoredMsg `json:"message"`
		Error   *apiError  `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("bad response %q: %v", resp.Data, err), true
	}
	switch {
	case r.Error != nil && r.Error.Code >= 500:
		return nil, r.Error, false // e.g. 503 JetStream not available (election)
	case r.Error != nil:
		return nil, r.Error, true
	case r.Message == nil:
		return nil, fmt.Errorf("response without a message: %q", resp.Data), true
	}
	return r.Message, nil, true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// stepDownTimeout bounds moving a stream's leadership to one node.
const stepDownTimeout = 20 * time.Second

// VerifyEachReplica runs Verify once with each running node of c as the
// leader of stream, moving the leadership there with a step-down that
// prefers it ($JS.API.STREAM.LEADER.STEPDOWN with placement.preferred): a
// message kept by the leader but lost by a follower shows up when that
// follower leads.
func (l *AckLog) VerifyEachReplica(t testing.TB, c *Cluster, stream string) {
	t.Helper()
	for i := range c.N() {
		if !c.Up(i) {
			continue
		}
		c.MakeStreamLeader(stream, i)
		t.Logf("AckLog: reading %s back with %s leading", stream, c.Name(i))
		l.Verify(t, c.JetStream(i))
	}
}

// MakeStreamLeader moves the leadership of stream to node i (asking the
// leader to step down in its favour until it leads) and fails the test
// if that takes longer than stepDownTimeout.
func (c *Cluster) MakeStreamLeader(stream string, i int) {
	c.t.Helper()
	nc := c.Connect(i)
	defer nc.Close()
	body := mustJSON(map[string]any{"placement": map[string]any{"preferred": c.Name(i)}})
	deadline := time.Now().Add(stepDownTimeout)
	var last error
	for {
		l, err := c.StreamLeader(stream)
		if err == nil && l == i {
			return
		}
		if err == nil {
			resp, rerr := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, body, requestTimeout)
			if rerr != nil {
				last = rerr
			} else {
				var r struct {
					Error *apiError `json:"error"`
				}
				if jerr := json.Unmarshal(resp.Data, &r); jerr != nil {
					last = jerr
				} else if r.Error != nil {
					last = r.Error
				}
			}
		} else {
			last = err
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("jsclustertest: %s did not become the leader of %s within %v (last: %v)", c.Name(i), stream, stepDownTimeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
