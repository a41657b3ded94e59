package jetstream

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/subject"
)

// Mirrors and sources within the server: a stream that mirrors or sources
// another of its account reads the origin's store directly (one goroutine
// per origin), instead of nats-server's internal consumer and flow control
// over the network; what it reads goes through the destination's ingest
// queue like a publish, so limits, dedupe and ordering apply. A mirror
// keeps the origin's sequence numbers; a source's messages get a
// Nats-Stream-Source header ("<origin> <seq>") by which a restart finds
// where it left off.

const (
	hdrStreamSource = "Nats-Stream-Source"
	sourcePoll      = 250 * time.Millisecond // looks again for an origin that does not exist yet
)

// sourcer copies one origin into the stream.
type sourcer struct {
	mset    *stream
	cfg     StreamSource
	mirror  bool
	filters []string
	xforms  []*server.Transform
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	next   uint64    // next origin sequence to copy
	origin *stream   // nil until found
	active time.Time // last copy
}

// startSources starts the stream's mirror or sources (called with
// mset.mu held, after the store is open).
func (mset *stream) startSourcesLocked() {
	var list []*StreamSource
	mirror := mset.cfg.Mirror != nil
	if mirror {
		list = []*StreamSource{mset.cfg.Mirror}
	} else {
		list = mset.cfg.Sources
	}
	for _, src := range list {
		sr := &sourcer{mset: mset, cfg: *src, mirror: mirror, wake: make(chan struct{}, 1),
			quit: make(chan struct{}), done: make(chan struct{})}
		if src.FilterSubject != "" {
			sr.filters = []string{src.FilterSubject}
		}
		for _, t := range src.SubjectTransforms {
			if t.Source != "" && !subject.ValidSubject(t.Source) {
				continue
			}
			if x, err := newTransform(t.Source, t.Destination); err == nil {
				sr.xforms = append(sr.xforms, x)
			}
			if t.Source != "" {
				sr.filters = append(sr.filters, t.Source)
			}
		}
		sr.next = mset.resumePoint(sr)
		mset.sources = append(mset.sources, sr)
		go sr.run()
	}
}

// stopSourcesLocked ends the copies (a stop, or an update replacing them).
func (mset *stream) stopSourcesLocked() []*sourcer {
	list := mset.sources
	mset.sources = nil
	for _, sr := range list {
		close(sr.quit)
	}
	return list
}

// resumePoint is the first origin sequence not yet copied: for a mirror
// the stream's next sequence; for a source, after the last message whose
// Nats-Stream-Source names it (or the source's start options).
func (mset *stream) resumePoint(sr *sourcer) uint64 {
	st := mset.store.State(false)
	if sr.mirror {
		if st.LastSeq > 0 {
			return st.LastSeq + 1
		}
		return max(sr.cfg.OptStartSeq, 1)
	}
	var sm store.StoreMsg
	for seq := st.LastSeq; seq > 0 && seq >= st.FirstSeq; {
		m, err := mset.store.LoadPrevMsg(seq, &sm)
		if err != nil {
			break
		}
		if v, ok := getHeader(m.Header, hdrStreamSource); ok {
			if name, n, ok := parseSourceHeader(v); ok && name == sr.cfg.Name {
				return n + 1
			}
		}
		seq = m.Seq - 1
	}
	return max(sr.cfg.OptStartSeq, 1)
}

func parseSourceHeader(v string) (string, uint64, bool) {
	f := strings.Fields(v)
	if len(f) < 2 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	return f[0], n, err == nil
}

func (sr *sourcer) run() {
	defer close(sr.done)
	t := time.NewTicker(sourcePoll)
	defer t.Stop()
	for {
		if origin := sr.findOrigin(); origin != nil {
			for sr.copyAvailable(origin) {
			}
		}
		select {
		case <-sr.quit:
			sr.detach()
			return
		case <-sr.wake:
		case <-t.C:
		}
	}
}

// findOrigin looks the origin up (it may be made, deleted and made again)
// and registers for its new messages.
func (sr *sourcer) findOrigin() *stream {
	origin := sr.mset.ja.lookupStream(sr.cfg.Name)
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if origin != sr.origin {
		if sr.origin != nil {
			sr.origin.removeWatcher(sr.wake)
		}
		sr.origin = origin
		if origin != nil {
			origin.addWatcher(sr.wake)
			if sr.cfg.OptStartTime != nil && sr.next <= 1 {
				if s := origin.store.SeqForTime(*sr.cfg.OptStartTime); s > 0 {
					sr.next = s
				}
			}
		}
	}
	return origin
}

func (sr *sourcer) detach() {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.origin != nil {
		sr.origin.removeWatcher(sr.wake)
	}
}

// copyAvailable copies a batch of what the origin has past sr.next; it
// reports whether there may be more.
func (sr *sourcer) copyAvailable(origin *stream) bool {
	var sm store.StoreMsg
	for i := 0; i < ingestBatch; i++ {
		m, err := origin.store.LoadNextMsg(sr.filters, sr.next, &sm)
		if err != nil {
			return false
		}
		im := &inMsg{subject: m.Subject, hdr: cloneBytes(m.Header), data: cloneBytes(m.Data), sourced: true}
		for _, x := range sr.xforms {
			if s, ok := x.Apply(m.Subject); ok {
				im.subject = s
				break
			}
		}
		if sr.mirror {
			im.mirrorSeq = m.Seq
		} else {
			// nats-server's form: origin, sequence, filter, destination,
			// subject (then an id of its own, which natsd leaves out).
			filter, dest := ">", ">"
			if sr.cfg.FilterSubject != "" {
				filter = sr.cfg.FilterSubject
			}
			if len(sr.cfg.SubjectTransforms) > 0 {
				filter, dest = sr.cfg.SubjectTransforms[0].Source, sr.cfg.SubjectTransforms[0].Destination
			}
			h := newHeaderBuilder(im.hdr)
			h.set(hdrStreamSource, sr.cfg.Name+" "+strconv.FormatUint(m.Seq, 10)+" "+filter+" "+dest+" "+m.Subject)
			im.hdr = h.bytes()
		}
		select {
		case sr.mset.in <- im:
		case <-sr.quit:
			return false
		}
		sr.mu.Lock()
		sr.next = m.Seq + 1
		sr.active = time.Now()
		sr.mu.Unlock()
	}
	return true
}

// info is the source's progress for STREAM.INFO.
func (sr *sourcer) info() *StreamSourceInfo {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	si := &StreamSourceInfo{Name: sr.cfg.Name, Active: -1, SubjectTransforms: sr.cfg.SubjectTransforms}
	if !sr.active.IsZero() {
		si.Active = time.Since(sr.active)
	}
	if sr.origin != nil {
		if last := sr.origin.store.State(false).LastSeq; last >= sr.next {
			si.Lag = last - sr.next + 1
		}
	}
	return si
}

// addWatcher registers ch to be woken when the stream stores messages.
func (mset *stream) addWatcher(ch chan struct{}) {
	mset.watchMu.Lock()
	mset.watchers = append(mset.watchers, ch)
	mset.watchMu.Unlock()
}

func (mset *stream) removeWatcher(ch chan struct{}) {
	mset.watchMu.Lock()
	defer mset.watchMu.Unlock()
	for i, w := range mset.watchers {
		if w == ch {
			mset.watchers = append(mset.watchers[:i], mset.watchers[i+1:]...)
			return
		}
	}
}

func (mset *stream) signalWatchers() {
	mset.watchMu.Lock()
	defer mset.watchMu.Unlock()
	for _, w := range mset.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}
