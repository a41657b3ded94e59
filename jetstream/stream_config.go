package jetstream

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/server/subject"
)

const (
	defaultDuplicates = 2 * time.Minute
	// serverVersion is the nats-server version natsd's API speaks, shown
	// in the "_nats.ver" metadata.
	serverVersion = "2.15.2"

	metaLevel    = "_nats.level"
	metaReqLevel = "_nats.req.level"
	metaVer      = "_nats.ver"
)

// validName reports whether a stream or consumer name is usable: not
// empty, and none of the characters that would make it several subject
// tokens or a wildcard (nor whitespace).
func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, ".*>\\/ \t\r\n")
}

var errStreamName = errors.New(`stream name is required and can not contain '.', '*', '>', '\', '/'`)

// normalizeStream fills a requested stream config's defaults and checks it
// as nats-server does; the error is the API's (10052 mostly, recorded).
func (e *Engine) normalizeStream(cfg StreamConfig) (StreamConfig, *APIError) {
	if !validName(cfg.Name) {
		return cfg, errWith(errStreamInvalidConfigF, errStreamName)
	}
	if len(cfg.Description) > 4*1024 {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("stream description is too long, maximum allowed is 4096"))
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas > 5 {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("maximum replicas is 5"))
	}
	if cfg.Replicas > 1 && e.cluster == nil {
		return cfg, newError(errStreamReplicasNotSupported)
	}
	for _, p := range []*int64{&cfg.MaxMsgs, &cfg.MaxBytes, &cfg.MaxMsgsPerSubject} {
		if *p == 0 || *p < -1 {
			*p = -1
		}
	}
	if cfg.MaxConsumers == 0 || cfg.MaxConsumers < -1 {
		cfg.MaxConsumers = -1
	}
	if cfg.MaxMsgSize == 0 || cfg.MaxMsgSize < -1 {
		cfg.MaxMsgSize = -1
	}
	if cfg.MaxAge < 0 {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("max age can not be negative"))
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < 100*time.Millisecond {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("max age needs to be >= 100ms"))
	}
	if cfg.Duplicates < 0 {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("duplicates window can not be negative"))
	}
	if cfg.Duplicates == 0 && cfg.Mirror == nil {
		cfg.Duplicates = defaultDuplicates
		if cfg.MaxAge != 0 && cfg.MaxAge < cfg.Duplicates {
			cfg.Duplicates = cfg.MaxAge
		}
	}
	if cfg.MaxAge != 0 && cfg.Duplicates > cfg.MaxAge {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("duplicates window can not be larger then max age"))
	}
	if cfg.Compression == "" {
		cfg.Compression = "none"
	}
	if cfg.Compression != "none" && cfg.Compression != "s2" {
		return cfg, newError(errInvalidJSON, "{err}", fmt.Sprintf("can not unmarshal %q", `"`+cfg.Compression+`"`))
	}
	if cfg.AllowRollup && cfg.DenyPurge {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("roll-ups require the purge permission"))
	}
	if cfg.SubjectDeleteMarkerTTL != 0 {
		if !cfg.AllowMsgTTL {
			return cfg, errWith(errStreamInvalidConfigF, errors.New("subject marker delete cannot be set if message TTLs are disabled"))
		}
		if cfg.SubjectDeleteMarkerTTL < time.Second {
			return cfg, errWith(errStreamInvalidConfigF, errors.New("subject marker delete TTL must be at least 1 second"))
		}
		// Refused rather than accepted and not honoured: a key-value
		// bucket with LimitMarkerTTL relies on the markers.
		return cfg, errWith(errStreamInvalidConfigF, errors.New("natsd does not serve subject delete markers yet"))
	}
	if cfg.DiscardNewPerSubject && (cfg.Discard != DiscardNew || cfg.MaxMsgsPerSubject <= 0) {
		return cfg, errWith(errStreamInvalidConfigF, errors.New("discard new per subject requires discard new policy and max msgs per subject to be set"))
	}
	if cfg.Mirror != nil {
		if len(cfg.Subjects) > 0 {
			return cfg, newError(errMirrorWithSubjects)
		}
		if len(cfg.Sources) > 0 {
			return cfg, newError(errMirrorWithSources)
		}
		if cfg.FirstSeq > 0 {
			return cfg, newError(errMirrorWithFirstSeq)
		}
	} else if len(cfg.Subjects) == 0 && len(cfg.Sources) == 0 {
		cfg.Subjects = []string{cfg.Name}
	}
	origins := cfg.Sources
	if cfg.Mirror != nil {
		origins = []*StreamSource{cfg.Mirror}
	}
	for _, src := range origins {
		switch {
		case src == nil || !validName(src.Name):
			return cfg, errWith(errStreamInvalidConfigF, errors.New("stream source name is invalid"))
		case src.Name == cfg.Name:
			return cfg, errWith(errStreamInvalidConfigF, errors.New("stream can not source or mirror itself"))
		case src.External != nil:
			return cfg, errWith(errStreamInvalidConfigF, errors.New("natsd does not serve mirrors and sources of other accounts or domains (external) yet"))
		case src.FilterSubject != "" && len(src.SubjectTransforms) > 0:
			return cfg, errWith(errStreamInvalidConfigF, errors.New("stream source can not have both a filter subject and subject transforms"))
		case src.OptStartSeq > 0 && src.OptStartTime != nil:
			return cfg, newError(errMirrorWithStartSeqAndTime)
		}
	}
	seen := map[string]bool{}
	var subjects []string
	for _, s := range cfg.Subjects {
		if seen[s] {
			continue // nats-server drops duplicates
		}
		seen[s] = true
		if !subject.ValidSubject(s) {
			return cfg, errWith(errStreamInvalidConfigF, fmt.Errorf("invalid subject"))
		}
		if strings.HasPrefix(s, "$JS.API") && !cfg.NoAck {
			return cfg, errWith(errStreamInvalidConfigF, errors.New("subjects that overlap with jetstream api require no-ack to be true"))
		}
		subjects = append(subjects, s)
	}
	cfg.Subjects = subjects
	for i, a := range cfg.Subjects {
		for _, b := range cfg.Subjects[i+1:] {
			if subjectsCollide(a, b) {
				return cfg, errWith(errStreamInvalidConfigF, fmt.Errorf("subject %q overlaps with %q", a, b))
			}
		}
	}
	if cfg.SubjectTransform != nil {
		if cfg.SubjectTransform.Source != "" && !subject.ValidSubject(cfg.SubjectTransform.Source) {
			return cfg, errWith(errStreamInvalidConfigF, errors.New("stream subject transform source is invalid"))
		}
		if _, err := newTransform(cfg.SubjectTransform.Source, cfg.SubjectTransform.Destination); err != nil {
			// nats-server's code and start of the text (recorded: 10156
			// "stream transform: invalid mapping destination: wildcard
			// index out of range in {{wildcard(2)}}: [2]"); the reason
			// after it is natsd's own.
			return cfg, errWith(errStreamTransformInvalidDestination, fmt.Errorf("invalid mapping destination: %v", err))
		}
	}
	if rp := cfg.RePublish; rp != nil {
		if rp.Source != "" && !subject.ValidSubject(rp.Source) {
			return cfg, errWith(errStreamInvalidConfigF, errors.New("stream configuration for republish source is invalid"))
		}
		if _, err := newTransform(rp.Source, rp.Destination); err != nil {
			return cfg, errWith(errStreamInvalidConfigF, fmt.Errorf("stream configuration for republish destination is invalid: %v", err))
		}
		for _, s := range cfg.Subjects {
			if rp.Destination != "" && subjectsCollide(s, rp.Destination) {
				return cfg, errWith(errStreamInvalidConfigF, errors.New("stream configuration for republish destination forms a cycle"))
			}
		}
	}
	cfg.Metadata = withReqLevel(cfg.Metadata, streamReqLevel(&cfg))
	return cfg, nil
}

// streamReqLevel is the API level a stream config needs.
func streamReqLevel(cfg *StreamConfig) int {
	if cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL > 0 {
		return 1
	}
	return 0
}

// withReqLevel is the user's metadata with the required API level, the
// one "_nats" key that is stored (the others are added to replies).
func withReqLevel(md map[string]string, level int) map[string]string {
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		if !strings.HasPrefix(k, "_nats.") {
			out[k] = v
		}
	}
	out[metaReqLevel] = strconv.Itoa(level)
	return out
}

// withServerMetadata is md as a create, update or info reply shows it:
// the server's API level and version added.
func withServerMetadata(md map[string]string) map[string]string {
	out := make(map[string]string, len(md)+2)
	for k, v := range md {
		out[k] = v
	}
	out[metaLevel] = strconv.Itoa(APILevel)
	out[metaVer] = serverVersion
	return out
}

// checkStreamUpdate says whether cur may become next.
func checkStreamUpdate(cur, next *StreamConfig) *APIError {
	invalid := func(msg string) *APIError { return errWith(errStreamInvalidConfigF, errors.New(msg)) }
	switch {
	case cur.Storage != next.Storage:
		return invalid("stream configuration update can not change storage type")
	case cur.Retention != next.Retention && (cur.Retention == WorkQueuePolicy || next.Retention == WorkQueuePolicy):
		return invalid("stream configuration update can not change retention policy to/from workqueue")
	case (cur.Mirror == nil) != (next.Mirror == nil) || (cur.Mirror != nil && !reflect.DeepEqual(cur.Mirror, next.Mirror)):
		return newError(errStreamMirrorNotUpdatable)
	case cur.Sealed && !next.Sealed:
		return invalid("stream configuration update can not unseal a sealed stream")
	case cur.DenyDelete && !next.DenyDelete:
		return invalid("stream configuration update can not cancel deny message deletes")
	case cur.DenyPurge && !next.DenyPurge:
		return invalid("stream configuration update can not cancel deny purge")
	case cur.Replicas != next.Replicas:
		return newError(errStreamReplicasNotUpdatable)
	}
	return nil
}

// sameStreamConfig reports whether a create asks for the stream that
// exists (then it is idempotent).
func sameStreamConfig(a, b *StreamConfig) bool {
	return reflect.DeepEqual(a, b)
}

// subjectsCollide reports whether some subject matches both patterns.
func subjectsCollide(a, b string) bool {
	if a == b {
		return true
	}
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) && i == len(bt):
			return true
		case i == len(at) || i == len(bt):
			return (i < len(at) && at[i] == ">") || (i < len(bt) && bt[i] == ">")
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}
