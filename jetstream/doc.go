// Package jetstream is JetStream on one server: streams that store what is
// published on their subjects, consumers that deliver it and remember what
// was acknowledged, and the $JS.API they are managed with — nats-server's
// requests, replies and errors (checked against the recorded corpus in
// ../shared/testdata/jsapi), so that nats.go's jetstream package, its
// key-value and object stores and the nats CLI work unchanged.
//
// Where it differs from nats-server on purpose: a publish is acknowledged
// only once it is on disk. The stream's ingest goroutine stores a batch of
// publishes, fsyncs once (group commit), and only then acknowledges them
// (stream.go); nats-server acknowledges first and fsyncs every two minutes.
// sync_interval keeps nats-server's trade for those who want it. Every
// record carries a checksum (package store), and what fails it is
// reported, never served.
//
// The package depends on the server only through accounts' internal
// subscriptions and publishes (server.Account.Subscribe, Publish and
// PublishTo): API requests, publishes, acks and pull requests arrive on
// the publisher's goroutine and are handed to queues; deliveries go out
// through Publish. Layout:
//
//	engine.go, account.go   the server's JetStream and its accounts
//	api*.go                 the $JS.API (a few workers serve a queue)
//	stream*.go, dedupe.go   streams: config checks, ingest, publish acks
//	consumer*.go            consumers: state, delivery loop, acks, pulls
//	directget.go            DIRECT.GET and MSG.GET
//	snapshot*.go, restore.go  backups: STREAM.SNAPSHOT and STREAM.RESTORE, in
//	                        nats-server 2.15's archive format (both ways)
//	load.go, files.go       what survives a restart, written atomically
//	jsz.go                  /jsz, /varz and STATSZ sections
//	errors*.go              the API's error codes (nats-server's table)
package jetstream
