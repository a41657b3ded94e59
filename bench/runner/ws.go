package main

import "fmt"

// The WebSocket scenarios run both servers with the same websocket block,
// from a config file (neither has a flag for it): a ws:// listener on
// loopback, without compression (what nats.go asks for by default); the
// client port and monitoring stay flags. natscli connects to the ws://
// URL (nats.go speaks WebSocket natively).
//
// max_payload is 8MB in these scenarios, for both servers: nats.go 1.53
// and later (natscli v0.5.0's) drop a WebSocket connection on a frame over
// 8 × the max_payload of its INFO, and nats-server v2.15.2 sends the
// backlog of a subscriber that fell behind as one frame. With the default
// 1MB, the subscriber of every nats-server round of pubsub1kws was
// disconnected ("websocket frame too large: 11675342") and the row had no
// ratio; natsd splits a backlog into frames under the limit
// (server/websocket: MaxWriteFrame). 8MB makes the limit 64MB, which no
// frame reaches: a backlog over max_pending (64MB) is a slow consumer.

// wsConf is the block for a listener on port (topologyConf puts it in
// the scenario's config file).
func wsConf(port int) string {
	return fmt.Sprintf("max_payload: 8MB\nwebsocket {\n  listen: \"127.0.0.1:%d\"\n  no_tls: true\n}\n", port)
}
