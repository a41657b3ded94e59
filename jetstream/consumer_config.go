package jetstream

import (
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/server/subject"
)

const (
	defaultAckWait           = 30 * time.Second
	defaultMaxAckPending     = 1000
	defaultMaxWaiting        = 512
	defaultInactiveEphemeral = 5 * time.Second
	maxConsumerNameLen       = 255
)

// normalizeConsumer fills a requested consumer config's defaults and
// checks it against its stream as nats-server does (errors recorded in
// ../shared/testdata/jsapi/consumer_create_errors.json).
func normalizeConsumer(cfg ConsumerConfig, scfg *StreamConfig, limits AccountLimits) (ConsumerConfig, *APIError) {
	if cfg.Durable != "" && cfg.Name != "" && cfg.Durable != cfg.Name {
		return cfg, newError(errConsumerCreateDurableAndNameMismatch)
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Durable
	}
	for _, n := range []string{cfg.Durable, cfg.Name} {
		if n == "" {
			continue
		}
		if strings.ContainsAny(n, `/\`) {
			return cfg, newError(errConsumerNameContainsPathSeparators)
		}
		if !validName(n) {
			return cfg, errWith(errStreamInvalidConfigF, errBadConsumerName)
		}
		if len(n) > maxConsumerNameLen {
			return cfg, newError(errConsumerNameTooLong, "{max}", maxConsumerNameLen)
		}
	}
	if len(cfg.Description) > 4*1024 {
		return cfg, newError(errConsumerDescriptionTooLong, "{max}", 4*1024)
	}
	push := cfg.DeliverSubject != ""
	if push {
		if subject.HasWildcard(cfg.DeliverSubject) {
			return cfg, newError(errConsumerDeliverToWildcards)
		}
		if !subject.ValidSubject(cfg.DeliverSubject) {
			return cfg, newError(errConsumerInvalidDeliverSubject)
		}
		for _, s := range scfg.Subjects {
			if subjectsCollide(s, cfg.DeliverSubject) {
				return cfg, newError(errConsumerDeliverCycle)
			}
		}
		if cfg.MaxWaiting != 0 {
			return cfg, newError(errConsumerPushMaxWaiting)
		}
		if cfg.MaxRequestBatch != 0 || cfg.MaxRequestExpires != 0 || cfg.MaxRequestMaxBytes != 0 {
			return cfg, errWith(errConsumerCreate, errPullOptionsOnPush)
		}
		if len(cfg.PriorityGroups) > 0 {
			return cfg, newError(errConsumerPushWithPriorityGroup)
		}
	} else {
		if cfg.Heartbeat != 0 {
			return cfg, newError(errConsumerHBRequiresPush)
		}
		if cfg.FlowControl {
			return cfg, newError(errConsumerFCRequiresPush)
		}
		if cfg.RateLimit != 0 {
			return cfg, newError(errConsumerPullWithRateLimit)
		}
		if cfg.MaxWaiting < 0 {
			return cfg, newError(errConsumerMaxWaitingNegative)
		}
		if cfg.MaxWaiting == 0 {
			cfg.MaxWaiting = defaultMaxWaiting
		}
		if cfg.MaxRequestBatch < 0 {
			return cfg, newError(errConsumerMaxRequestBatchNegative)
		}
		if cfg.MaxRequestExpires != 0 && cfg.MaxRequestExpires < time.Millisecond {
			return cfg, newError(errConsumerMaxRequestExpiresTooSmall)
		}
	}
	if cfg.Heartbeat != 0 && cfg.Heartbeat < 100*time.Millisecond {
		return cfg, newError(errConsumerSmallHeartbeat)
	}
	if cfg.FlowControl && cfg.Heartbeat == 0 {
		return cfg, newError(errConsumerWithFlowControlNeedsHeartbeats)
	}
	if cfg.FilterSubject != "" && len(cfg.FilterSubjects) > 0 {
		return cfg, newError(errConsumerDuplicateFilterSubjects)
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = []string{cfg.FilterSubject}
	}
	for i, f := range filters {
		if f == "" {
			return cfg, newError(errConsumerEmptyFilter)
		}
		if !subject.ValidSubject(f) {
			return cfg, errWith(errConsumerCreate, errBadFilter)
		}
		for _, g := range filters[i+1:] {
			if subjectsCollide(f, g) {
				return cfg, newError(errConsumerOverlappingSubjectFilters)
			}
		}
	}
	switch cfg.DeliverPolicy {
	case DeliverByStartSequence:
		if cfg.OptStartSeq == 0 {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver by start sequence, but optional start sequence is not set")
		}
		if cfg.OptStartTime != nil {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver by start sequence, but optional start time is also set")
		}
	case DeliverByStartTime:
		if cfg.OptStartTime == nil {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver by start time, but optional start time is not set")
		}
		if cfg.OptStartSeq != 0 {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver by start time, but optional start sequence is also set")
		}
	default:
		if cfg.OptStartSeq != 0 {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver "+cfg.DeliverPolicy.String()+", but optional start sequence is also set")
		}
		if cfg.OptStartTime != nil {
			return cfg, newError(errConsumerInvalidPolicy, "{err}", "consumer delivery policy is deliver "+cfg.DeliverPolicy.String()+", but optional start time is also set")
		}
	}
	if scfg.Retention == WorkQueuePolicy {
		if !push && cfg.AckPolicy != AckExplicit {
			return cfg, newError(errConsumerPullRequiresAck)
		}
		if cfg.DeliverPolicy != DeliverAll {
			return cfg, newError(errConsumerWQConsumerNotDeliverAll)
		}
	}
	if cfg.AckWait < 0 {
		return cfg, newError(errConsumerAckWaitNegative)
	}
	for _, b := range cfg.BackOff {
		if b <= 0 {
			return cfg, newError(errConsumerBackOffNegative)
		}
	}
	if cfg.AckPolicy == AckNone {
		if cfg.MaxAckPending > 0 {
			return cfg, newError(errConsumerMaxPendingAckPolicyRequired)
		}
	} else {
		if len(cfg.BackOff) > 0 {
			cfg.AckWait = cfg.BackOff[0]
		}
		if cfg.AckWait == 0 {
			cfg.AckWait = defaultAckWait
		}
		if cfg.MaxAckPending == 0 {
			cfg.MaxAckPending = defaultMaxAckPending
			if scfg.ConsumerLimits.MaxAckPending > 0 {
				cfg.MaxAckPending = scfg.ConsumerLimits.MaxAckPending
			}
			if limits.MaxAckPending > 0 && cfg.MaxAckPending > limits.MaxAckPending {
				cfg.MaxAckPending = limits.MaxAckPending
			}
		}
		if limits.MaxAckPending > 0 && cfg.MaxAckPending > limits.MaxAckPending {
			return cfg, newError(errConsumerMaxPendingAckExcess, "{limit}", limits.MaxAckPending)
		}
	}
	if cfg.MaxDeliver == 0 || cfg.MaxDeliver < -1 {
		cfg.MaxDeliver = -1
	}
	if cfg.MaxDeliver > 0 && len(cfg.BackOff) > cfg.MaxDeliver {
		return cfg, newError(errConsumerMaxDeliverBackoff)
	}
	if cfg.Durable == "" && cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = defaultInactiveEphemeral
		if scfg.ConsumerLimits.InactiveThreshold > 0 {
			cfg.InactiveThreshold = scfg.ConsumerLimits.InactiveThreshold
		}
	}
	if cfg.InactiveThreshold < 0 {
		return cfg, errWith(errConsumerCreate, errNegativeInactive)
	}
	if cfg.SampleFrequency != "" {
		s := strings.TrimSuffix(cfg.SampleFrequency, "%")
		if n, err := strconv.Atoi(s); err != nil || n < 0 || n > 100 {
			return cfg, newError(errConsumerInvalidSampling, "{err}", "sampling frequency must be between 0 and 100")
		}
	}
	if cfg.Replicas > 1 {
		return cfg, newError(errStreamReplicasNotSupported)
	}
	cfg.Metadata = withReqLevel(cfg.Metadata, consumerReqLevel(&cfg))
	return cfg, nil
}

// consumerReqLevel is the API level a consumer config needs.
func consumerReqLevel(cfg *ConsumerConfig) int {
	if cfg.PauseUntil != nil || len(cfg.PriorityGroups) > 0 || cfg.PriorityPolicy != "" {
		return 1
	}
	return 0
}

// filters are the consumer's filter subjects (none: every message).
func (cfg *ConsumerConfig) filters() []string {
	if cfg.FilterSubject != "" {
		return []string{cfg.FilterSubject}
	}
	return cfg.FilterSubjects
}

// checkConsumerUpdate says whether cur may become next (a create with a
// changed config on an existing consumer).
func checkConsumerUpdate(cur, next *ConsumerConfig) *APIError {
	bad := func(what string) *APIError {
		return errWith(errConsumerCreate, errorString("consumer configuration update can not change "+what))
	}
	switch {
	case cur.DeliverPolicy != next.DeliverPolicy:
		return bad("deliver policy")
	case cur.OptStartSeq != next.OptStartSeq:
		return bad("start sequence")
	case (cur.OptStartTime == nil) != (next.OptStartTime == nil) || (cur.OptStartTime != nil && !cur.OptStartTime.Equal(*next.OptStartTime)):
		return bad("start time")
	case cur.AckPolicy != next.AckPolicy:
		return bad("ack policy")
	case cur.ReplayPolicy != next.ReplayPolicy:
		return bad("replay policy")
	case cur.Heartbeat != next.Heartbeat:
		return bad("heartbeat")
	case cur.FlowControl != next.FlowControl:
		return bad("flow control")
	case (cur.DeliverSubject == "") != (next.DeliverSubject == ""):
		return bad("push/pull mode")
	case cur.DeliverGroup != next.DeliverGroup:
		return bad("deliver group")
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

const (
	errBadConsumerName   = errorString(`consumer name can not contain '.', '*', '>', '\', '/'`)
	errPullOptionsOnPush = errorString("consumer in push mode can not set max batch, max expires or max bytes")
	errBadFilter         = errorString("consumer filter subject is not a valid subject")
	errNegativeInactive  = errorString("consumer inactive threshold can not be negative")
)
