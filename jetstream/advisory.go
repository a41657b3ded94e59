package jetstream

import (
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// JetStream advisories: events published in the stream's account on
// $JS.EVENT.ADVISORY.…, which `nats event --js-advisory` and monitoring
// follow. Their subjects, types and fields are nats-server v2.15.2's
// (recorded with ../shared/tools/apirecord; the test runs both servers
// side by side). Published only when someone listens: the hot paths
// (acks, deliveries) pay one interest check.
//
// In a cluster the leader-elected and quorum-lost advisories also go to
// the system account, naming the account (as nats-server's), and the meta
// leader's DOMAIN.LEADER_ELECTED goes there only.
//
// Not sent (yet): the API audit ($JS.EVENT.ADVISORY.API), snapshots and
// restores.
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

// adviseDeleted announces a stream's deletion: each of its consumers',
// then its own (nats-server's order).
func (mset *stream) adviseDeleted() {
	for _, o := range mset.consumerList() {
		mset.ja.adviseConsumer(mset.name, o.name, "delete")
	}
	mset.ja.adviseStream(mset.name, "delete")
}

// AdviseDeleted announces the replicated stream's deletion, from the
// replica that leads it (the meta group deleted it; each replica is told).
func (r *Replica) AdviseDeleted() {
	if r.mset.leading.Load() {
		r.mset.adviseDeleted()
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

// accountField is the account a cluster advisory's system-account copy
// names (empty in the account's own copy).
type accountField struct {
	Account string `json:"account,omitempty"`
}

func (a *accountField) setAccount(name string) { a.Account = name }

// adviseWithSystem publishes a cluster advisory (a leader elected, a
// quorum lost) in the stream's account and, naming the account, in the
// system account: nats-server does both, so an operator watching the
// system account sees every account's groups.
func (ja *jsAccount) adviseWithSystem(subject string, ev interface{ setAccount(string) }) {
	sys := ja.e.srv.SystemAccount()
	if ja.acc != sys {
		advise(ja.acc, subject, ev)
	}
	if sys != nil {
		ev.setAccount(ja.name)
		advise(sys, subject, ev) // checks for interest
	}
}

// wantsAdvisory reports whether anyone listens on subject in the stream's
// account or the system account (the cluster advisories go to both).
func (ja *jsAccount) wantsAdvisory(subject string) bool {
	if ja.acc.HasInterest(subject) {
		return true
	}
	sys := ja.e.srv.SystemAccount()
	return sys != nil && sys.HasInterest(subject)
}

// leaderElectedAdvisory is a stream's or a consumer's new leader, with
// every replica (the leader too) as the leader sees it.
type leaderElectedAdvisory struct {
	advisoryHeader
	accountField
	Stream   string      `json:"stream"`
	Consumer string      `json:"consumer,omitempty"`
	Leader   string      `json:"leader"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// leaderReplicas are the group's replicas for a leader-elected
// advisory: the others as the leader sees them, then the leader.
func (mset *stream) leaderReplicas() (string, []*PeerInfo) {
	ci := mset.repl.Info()
	if ci == nil {
		return "", nil
	}
	out := append([]*PeerInfo(nil), ci.Replicas...)
	self := &PeerInfo{Name: ci.Leader, Current: true}
	if sp, ok := mset.repl.(interface{ SelfPeer() string }); ok {
		self.Peer = sp.SelfPeer()
	}
	return ci.Leader, append(out, self)
}

// adviseStreamLeader announces that this server leads the replicated
// stream now, and so each of the consumers (natsd's consumers move with
// their stream: nats-server announces each consumer's own election).
func (mset *stream) adviseStreamLeader(consumers []*consumer) {
	if mset.repl == nil || mset.repl.Peers() < 2 {
		return
	}
	subj := advisoryPrefix + "STREAM.LEADER_ELECTED." + mset.name
	if mset.ja.wantsAdvisory(subj) {
		leader, replicas := mset.leaderReplicas()
		mset.ja.adviseWithSystem(subj, &leaderElectedAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.stream_leader_elected"),
			accountField{}, mset.name, "", leader, replicas, mset.ja.e.cfg.Domain})
	}
	for _, o := range consumers {
		mset.adviseConsumerLeader(o.name)
	}
}

// adviseConsumerLeader announces a replicated consumer's leader: this
// server, its stream's leader.
func (mset *stream) adviseConsumerLeader(consumer string) {
	if mset.repl == nil || mset.repl.Peers() < 2 {
		return
	}
	subj := advisoryPrefix + "CONSUMER.LEADER_ELECTED." + mset.name + "." + consumer
	if !mset.ja.wantsAdvisory(subj) {
		return
	}
	leader, replicas := mset.leaderReplicas()
	mset.ja.adviseWithSystem(subj, &leaderElectedAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.consumer_leader_elected"),
		accountField{}, mset.name, consumer, leader, replicas, mset.ja.e.cfg.Domain})
}

// quorumLostAdvisory: a replicated stream's (or one of its consumers')
// leader stepped down because it no longer heard from a majority of the
// replicas; the stream takes no writes until a majority is back.
type quorumLostAdvisory struct {
	advisoryHeader
	accountField
	Stream   string      `json:"stream"`
	Consumer string      `json:"consumer,omitempty"`
	Replicas []*PeerInfo `json:"replicas"`
	Domain   string      `json:"domain,omitempty"`
}

// quorumLostEvery spaces a stream's lost-quorum warnings and advisories
// (nats-server's interval): a leader that keeps being elected and losing
// its majority again says so once in that time.
const quorumLostEvery = 10 * time.Second

// QuorumLost is the group's news that this replica, leading, stepped down
// for want of a majority (replicas: every member as this server last
// heard from it). It logs a warning and announces it for the stream and
// each of its consumers (they share the stream's group), in the account
// and the system account, as nats-server does.
func (r *Replica) QuorumLost(replicas []*PeerInfo) {
	mset := r.mset
	mset.replMu.Lock()
	if !mset.rs.quorumLostAt.IsZero() && time.Since(mset.rs.quorumLostAt) < quorumLostEvery {
		mset.replMu.Unlock()
		return
	}
	mset.rs.quorumLostAt = time.Now()
	mset.replMu.Unlock()
	ja := mset.ja
	ja.e.log.Warn("JetStream cluster stream has no quorum, stalled", zap.String("account", ja.name), zap.String("stream", mset.name))
	subj := advisoryPrefix + "STREAM.QUORUM_LOST." + mset.name
	if ja.wantsAdvisory(subj) {
		ja.adviseWithSystem(subj, &quorumLostAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.stream_quorum_lost"),
			accountField{}, mset.name, "", replicas, ja.e.cfg.Domain})
	}
	for _, o := range mset.consumerList() {
		subj := advisoryPrefix + "CONSUMER.QUORUM_LOST." + mset.name + "." + o.name
		if ja.wantsAdvisory(subj) {
			ja.adviseWithSystem(subj, &quorumLostAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.consumer_quorum_lost"),
				accountField{}, mset.name, o.name, replicas, ja.e.cfg.Domain})
		}
	}
}

// domainLeaderAdvisory: a server leads the JetStream meta group now. It
// goes to the system account only.
type domainLeaderAdvisory struct {
	advisoryHeader
	Leader   string      `json:"leader"` // the leader's peer id, as nats-server's
	Replicas []*PeerInfo `json:"replicas"`
	Cluster  string      `json:"cluster"`
	Domain   string      `json:"domain,omitempty"`
}

// AdviseMetaLeader announces, in the system account, that this server
// (peer id leaderPeer) began to lead the meta group of cluster; replicas
// are the group's members, this server too.
func (e *Engine) AdviseMetaLeader(leaderPeer string, replicas []*PeerInfo, cluster string) {
	sys := e.srv.SystemAccount()
	advise(sys, advisoryPrefix+"DOMAIN.LEADER_ELECTED", &domainLeaderAdvisory{newAdvisoryHeader("io.nats.jetstream.advisory.v1.domain_leader_elected"),
		leaderPeer, replicas, cluster, e.cfg.Domain})
}
