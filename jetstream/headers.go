package jetstream

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Headers JetStream reads from publishes and writes on what it sends.
const (
	hdrMsgID                   = "Nats-Msg-Id"
	hdrExpectedStream          = "Nats-Expected-Stream"
	hdrExpectedLastSeq         = "Nats-Expected-Last-Sequence"
	hdrExpectedLastSubjSeq     = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedLastSubjSeqSubj = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrExpectedLastMsgID       = "Nats-Expected-Last-Msg-Id"
	hdrRollup                  = "Nats-Rollup"
	hdrTTL                     = "Nats-TTL"

	hdrStream       = "Nats-Stream"
	hdrSubject      = "Nats-Subject"
	hdrSequence     = "Nats-Sequence"
	hdrTimeStamp    = "Nats-Time-Stamp"
	hdrLastSequence = "Nats-Last-Sequence"
	hdrMsgSize      = "Nats-Msg-Size"
	hdrNumPending   = "Nats-Num-Pending"
	hdrUpToSequence = "Nats-UpTo-Sequence"

	hdrPendingMsgs     = "Nats-Pending-Messages"
	hdrPendingBytes    = "Nats-Pending-Bytes"
	hdrLastConsumer    = "Nats-Last-Consumer"
	hdrLastStream      = "Nats-Last-Stream"
	hdrConsumerStalled = "Nats-Consumer-Stalled"
)

const hdrLine = "NATS/1.0"

// getHeader finds a header's first value in a header block ("NATS/1.0…
// \r\n\r\n"). Names match exactly, as nats-server's lookups do; values are
// trimmed.
func getHeader(hdr []byte, name string) (string, bool) {
	if len(hdr) == 0 {
		return "", false
	}
	// Skip the status line.
	i := bytes.Index(hdr, []byte("\r\n"))
	if i < 0 {
		return "", false
	}
	rest := hdr[i+2:]
	for len(rest) > 0 {
		j := bytes.Index(rest, []byte("\r\n"))
		if j < 0 {
			j = len(rest)
		}
		line := rest[:j]
		if j < len(rest) {
			rest = rest[j+2:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			break
		}
		k := bytes.IndexByte(line, ':')
		if k < 0 {
			continue
		}
		if string(bytes.TrimSpace(line[:k])) == name {
			return string(bytes.TrimSpace(line[k+1:])), true
		}
	}
	return "", false
}

// headerBuilder makes a header block: the given one with headers set or
// added.
type headerBuilder struct {
	status string // the status line after "NATS/1.0", e.g. " 404 No Messages"
	keys   []string
	vals   []string
}

// newHeaderBuilder starts from an existing block (its status line and
// headers kept in order), or an empty one.
func newHeaderBuilder(hdr []byte) *headerBuilder {
	h := &headerBuilder{}
	if len(hdr) == 0 {
		return h
	}
	lines := strings.Split(strings.TrimSuffix(string(hdr), "\r\n\r\n"), "\r\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], hdrLine) {
		h.status = strings.TrimPrefix(lines[0], hdrLine)
		lines = lines[1:]
	}
	for _, l := range lines {
		if k := strings.IndexByte(l, ':'); k > 0 {
			h.keys = append(h.keys, l[:k])
			h.vals = append(h.vals, strings.TrimSpace(l[k+1:]))
		}
	}
	return h
}

// statusHeader starts a status message header: "NATS/1.0 404 No Messages".
func statusHeader(code int, desc string) *headerBuilder {
	h := &headerBuilder{status: " " + strconv.Itoa(code)}
	if desc != "" {
		h.status += " " + desc
	}
	return h
}

// set replaces a header's value, or adds it.
func (h *headerBuilder) set(k, v string) {
	for i, kk := range h.keys {
		if kk == k {
			h.vals[i] = v
			return
		}
	}
	h.add(k, v)
}

func (h *headerBuilder) add(k, v string) {
	h.keys = append(h.keys, k)
	h.vals = append(h.vals, v)
}

func (h *headerBuilder) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(hdrLine)
	b.WriteString(h.status)
	b.WriteString("\r\n")
	for i, k := range h.keys {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(h.vals[i])
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// parseTTL reads a Nats-TTL value: a Go duration ("10s") or seconds
// ("10"); "never" is -1. Under a second is refused, as nats-server does.
func parseTTL(v string) (int64, error) {
	if v == "never" {
		return -1, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 1 {
			return 0, strconv.ErrRange
		}
		return n, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, strconv.ErrRange
	}
	return int64(d / time.Second), nil
}

// --- publish acknowledgements, written by hand as nats-server's are
// (the duplicate one has a space before "true": recorded) ---

func pubAckOK(stream, domain string, seq uint64) []byte {
	b := make([]byte, 0, 48+len(stream)+len(domain))
	b = append(b, `{"stream":`...)
	b = strconv.AppendQuote(b, stream)
	if domain != "" {
		b = append(b, `,"domain":`...)
		b = strconv.AppendQuote(b, domain)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

func pubAckDuplicate(stream string, seq uint64) []byte {
	b := pubAckOK(stream, "", seq)
	return append(b[:len(b)-1], `,"duplicate": true}`...)
}

func pubAckError(stream string, e *APIError) []byte {
	b, _ := jsonMarshal(PubAck{Error: e, Stream: stream})
	return b
}
