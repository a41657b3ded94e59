package jetstream

import (
	"encoding/json"
	"time"

	"github.com/natsd/natsd/server"
)

// JetStream advisories: events published in the stream's account on
// $JS.EVENT.ADVISORY.…, which `nats event --js-advisory` and monitoring
// follow. Their subjects, types and fields are nats-server v2.15.2's
// (recorded with ../shared/tools/apirecord; the test runs both servers
// side by side). Published only when someone listens: the hot paths
// (acks, deliveries) pay one interest check.
//
// Not sent (yet): the API audit ($JS.EVENT.ADVISORY.API), leader
// elections and quorum, snapshots and restores.
const advisoryPrefix = "$JS.EVENT.ADVISORY."

type advisoryHeader struct {
	Type string    `json:"type"`
	ID   string    `json:"id"`
	Time time.Time `json:"timestamp"`
}

func newAdvisoryHeader(typ string) advisoryHeader {
	return advisoryHeader{Type: typ, ID: server.NewEventID(), Time: time.Now().UTC()}
}

type streamActionAdvisory struct {
	advisoryHeader
	Stream string `json:"stream"`
	Action string `json:"action"`
	Domain string `json:"domain,omitempty"`
}

type consumerActionAdvisory struct {
	advisoryHeader
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Action   string `json:"action"`
	Domain   string `json:"domain,omitempty"`
}

// deliveryAdvisory is a nak's and a term's: which delivery of which
// message.
type deliveryAdvisory struct {
	advisoryHeader
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	ConsumerSeq uint64 `json:"consumer_seq"`
	StreamSeq   uint64 `json:"stream_seq"`
	Deliveries  uint64 `json:"deliveries"`
	Domain      string `json:"domain,omitempty"`
}

type maxDeliverAdvisory struct {
	advisoryHeader
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Domain     string `json:"domain,omitempty"`
}

// advise publishes an advisory in acc if anyone listens on subject.
func advise(acc *server.Account, subject string, ev any) {
	if acc == nil || !acc.HasInterest(subject) {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_ = acc.Publish(subject, "", nil, b)
}

// adviseStream announces a stream's "create", "modify" (an update: the
// subject says UPDATED, the action "modify", as nats-server's) or
// "delete".
func (ja *jsAccount) adviseStream(stream, action string) {
	subj := advisoryPrefix + "STREAM." + streamActionVerb(action) + "." + stream
	if !ja.acc.HasInterest(subj) {
		return
	}
	advise(ja.acc, subj, &streamActionAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.stream_action"), stream, action, ja.e.cfg.Domain})
}

// AdviseStream is adviseStream for jscluster (the meta group's delete).
func (e *Engine) AdviseStream(account, stream, action string) {
	if ja := e.lookup(account); ja != nil {
		ja.adviseStream(stream, action)
	}
}

// adviseConsumer announces a consumer's "create" or "delete".
func (ja *jsAccount) adviseConsumer(stream, consumer, action string) {
	subj := advisoryPrefix + "CONSUMER." + streamActionVerb(action) + "." + stream + "." + consumer
	if !ja.acc.HasInterest(subj) {
		return
	}
	advise(ja.acc, subj, &consumerActionAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.consumer_action"), stream, consumer, action, ja.e.cfg.Domain})
}

func streamActionVerb(action string) string {
	switch action {
	case "create":
		return "CREATED"
	case "modify":
		return "UPDATED"
	}
	return "DELETED"
}

// adviseDelivery announces a nak ("MSG_NAKED", type nak) or a term
// ("MSG_TERMINATED", type terminated) of one delivery.
func (o *consumer) adviseDelivery(event, typ string, sseq, cseq, deliveries uint64) {
	mset := o.mset
	subj := advisoryPrefix + "CONSUMER." + event + "." + mset.name + "." + o.name
	if !o.acc.HasInterest(subj) {
		return
	}
	advise(o.acc, subj, &deliveryAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1." + typ),
		mset.name, o.name, cseq, sseq, deliveries, mset.ja.e.cfg.Domain})
}

// maxDeliveredLocked announces that sseq was delivered max_deliver times
// and will not be delivered again.
func (o *consumer) maxDeliveredLocked(sseq uint64) {
	mset := o.mset
	subj := advisoryPrefix + "CONSUMER.MAX_DELIVERIES." + mset.name + "." + o.name
	if !o.acc.HasInterest(subj) {
		return
	}
	advise(o.acc, subj, &maxDeliverAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.max_deliver"),
		mset.name, o.name, sseq, o.rdc[sseq] + 1, mset.ja.e.cfg.Domain})
}
