package jetstream

import "fmt"

// HealthError is what /healthz?account=…&stream=…&consumer=… reports when
// the account, stream or consumer asked for is not there: its kind
// (ACCOUNT, STREAM or CONSUMER), what was asked for, and nats-server's
// text.
type HealthError struct {
	Type     string `json:"type"`
	Account  string `json:"account,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Consumer string `json:"consumer,omitempty"`
	Error    string `json:"error"`
}

// Health checks that account has JetStream and, when named, that stream
// and consumer exist (nats-server's /healthz with those parameters); nil
// when they do.
func (e *Engine) Health(account, stream, consumer string) *HealthError {
	ja := e.lookup(account)
	if ja == nil || !ja.isEnabled() {
		return &HealthError{Type: "ACCOUNT", Account: account,
			Error: fmt.Sprintf("JetStream account %q not found", account)}
	}
	if stream == "" {
		return nil
	}
	mset := ja.lookupStream(stream)
	if mset == nil {
		return &HealthError{Type: "STREAM", Account: account, Stream: stream,
			Error: fmt.Sprintf("JetStream stream %q not found on account %q", stream, account)}
	}
	if consumer != "" && mset.lookupConsumer(consumer) == nil {
		return &HealthError{Type: "CONSUMER", Account: account, Stream: stream, Consumer: consumer,
			Error: fmt.Sprintf("JetStream consumer %q not found for stream %q on account %q", consumer, stream, account)}
	}
	return nil
}

// ClusterHealth is /healthz's clustered JetStream check: "" when this
// server knows its meta leader and (unless metaOnly) each of its replicas
// is current; else what is wrong, in nats-server's words.
func (e *Engine) ClusterHealth(metaOnly bool) string {
	if hc, ok := e.cluster.(interface{ Health(metaOnly bool) string }); ok {
		return hc.Health(metaOnly)
	}
	return ""
}
