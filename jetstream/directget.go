package jetstream

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

// Direct gets ($JS.API.DIRECT.GET.<stream>[.<subject>]) answer with the
// message itself, its metadata in headers, not JSON; a stream subscribes
// them only with allow_direct, so that others get "no responders"
// (recorded).

type directGetRequest struct {
	Seq       uint64   `json:"seq,omitempty"`
	LastFor   string   `json:"last_by_subj,omitempty"`
	NextFor   string   `json:"next_by_subj,omitempty"`
	Batch     int      `json:"batch,omitempty"`
	MaxBytes  int      `json:"max_bytes,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
	UpToSeq   uint64   `json:"up_to_seq,omitempty"`
}

func (mset *stream) directGet(m server.Msg) {
	reply := string(m.Reply)
	if reply == "" {
		return
	}
	acc := mset.ja.acc
	status := func(code int, desc string, extra ...[2]string) {
		h := statusHeader(code, desc)
		for _, kv := range extra {
			h.add(kv[0], kv[1])
		}
		_ = acc.Publish(reply, "", h.bytes(), nil)
	}
	mset.sync() // what the requester published before is readable
	var r directGetRequest
	prefix := "$JS.API.DIRECT.GET." + mset.name + "."
	if subj := string(m.Subject); strings.HasPrefix(subj, prefix) {
		r.LastFor = subj[len(prefix):]
	} else {
		body := bytes.TrimSpace(m.Data)
		if len(body) == 0 {
			status(408, "Empty Request")
			return
		}
		if err := jsonUnmarshal(body, &r); err != nil {
			status(408, "Malformed Request")
			return
		}
	}
	switch {
	case len(r.MultiLast) > 0:
		mset.directMultiLast(reply, &r)
		return
	case r.Batch > 0:
		mset.directBatch(reply, &r)
		return
	}
	sm, apiErr := mset.getMsg(msgGetRequest{Seq: r.Seq, LastFor: r.LastFor, NextFor: r.NextFor})
	if apiErr != nil {
		if apiErr.ErrCode == errBadRequest {
			status(408, "Bad Request")
		} else {
			status(404, "Message Not Found")
		}
		return
	}
	mset.sendDirect(reply, sm, nil)
}

// sendDirect sends one message with its metadata headers (and extra ones).
func (mset *stream) sendDirect(reply string, sm *store.StoreMsg, extra [][2]string) {
	h := newHeaderBuilder(sm.Header)
	h.set(hdrStream, mset.name)
	h.set(hdrSubject, sm.Subject)
	h.set(hdrSequence, strconv.FormatUint(sm.Seq, 10))
	h.set(hdrTimeStamp, time.Unix(0, sm.Time).UTC().Format(time.RFC3339Nano))
	for _, kv := range extra {
		h.set(kv[0], kv[1])
	}
	_ = mset.ja.acc.Publish(reply, "", h.bytes(), sm.Data)
}

// directBatch sends up to r.Batch messages from r.Seq (matching
// r.NextFor), each with how many are left, then an EOB status.
func (mset *stream) directBatch(reply string, r *directGetRequest) {
	filters := []string(nil)
	if r.NextFor != "" {
		filters = []string{r.NextFor}
	}
	seq := max(r.Seq, 1)
	var last uint64
	sent, bytesLeft := 0, r.MaxBytes
	var sm store.StoreMsg
	for sent < r.Batch {
		m, err := mset.store.LoadNextMsg(filters, seq, &sm)
		if err != nil || (r.UpToSeq > 0 && m.Seq > r.UpToSeq) {
			break
		}
		if r.MaxBytes > 0 {
			size := len(m.Subject) + len(m.Header) + len(m.Data)
			if size > bytesLeft && sent > 0 {
				break
			}
			bytesLeft -= size
		}
		pending := mset.store.NumPending(m.Seq+1, filters, false)
		mset.sendDirect(reply, m, [][2]string{
			{hdrNumPending, strconv.FormatUint(pending, 10)}, {hdrLastSequence, strconv.FormatUint(last, 10)},
		})
		last, seq = m.Seq, m.Seq+1
		sent++
	}
	if sent == 0 {
		h := statusHeader(404, "Message Not Found")
		_ = mset.ja.acc.Publish(reply, "", h.bytes(), nil)
		return
	}
	pending := mset.store.NumPending(seq, filters, false)
	h := statusHeader(204, "EOB")
	h.add(hdrNumPending, strconv.FormatUint(pending, 10))
	h.add(hdrLastSequence, strconv.FormatUint(last, 10))
	_ = mset.ja.acc.Publish(reply, "", h.bytes(), nil)
}

// directMultiLast sends the last message of each subject matching
// r.MultiLast, in sequence order, then an EOB status.
func (mset *stream) directMultiLast(reply string, r *directGetRequest) {
	upTo := r.UpToSeq
	if upTo == 0 {
		upTo = mset.store.State(false).LastSeq
	}
	var seqs []uint64
	seen := map[uint64]bool{}
	for _, f := range r.MultiLast {
		for _, ss := range mset.store.SubjectsState(f) {
			if ss.Last <= upTo && !seen[ss.Last] {
				seen[ss.Last] = true
				seqs = append(seqs, ss.Last)
			}
		}
	}
	sortUint64(seqs)
	if r.Batch > 0 && len(seqs) > r.Batch {
		seqs = seqs[:r.Batch]
	}
	if len(seqs) == 0 {
		h := statusHeader(404, "Message Not Found")
		_ = mset.ja.acc.Publish(reply, "", h.bytes(), nil)
		return
	}
	var last uint64
	var sm store.StoreMsg
	for i, seq := range seqs {
		m, err := mset.store.LoadMsg(seq, &sm)
		if err != nil {
			continue
		}
		mset.sendDirect(reply, m, [][2]string{
			{hdrNumPending, strconv.Itoa(len(seqs) - i - 1)}, {hdrLastSequence, strconv.FormatUint(last, 10)},
		})
		last = seq
	}
	h := statusHeader(204, "EOB")
	h.add(hdrNumPending, "0")
	h.add(hdrLastSequence, strconv.FormatUint(last, 10))
	h.add(hdrUpToSequence, strconv.FormatUint(upTo, 10))
	_ = mset.ja.acc.Publish(reply, "", h.bytes(), nil)
}

func sortUint64(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
