// Package sysacct is the system account's services: the events a server
// publishes about itself and its clients ($SYS.ACCOUNT.<acc>.CONNECT and
// DISCONNECT, account CONNS, $SYS.SERVER.<id>.STATSZ heartbeats, LAMEDUCK
// and SHUTDOWN) and the requests it answers ($SYS.REQ.SERVER.PING[.<endpoint>],
// $SYS.REQ.SERVER.<id>.<endpoint> including RELOAD, KICK and LDM,
// $SYS.REQ.ACCOUNT.<acc>.<endpoint>), with nats-server's subjects, JSON and
// server filters, so that `nats server list`, `nats server info`, `nats
// server ping` and monitoring tools work against natsd and against a
// cluster mixing natsd and nats-server (docs/operations.md).
//
// Everything goes through the server's internal-subscription seam
// (server.Account.Subscribe and Publish) in the system account: a request
// is a message like any other, routed to every server; each answers for
// itself. The answers are the monitoring endpoints' (server/monitor), so
// /varz and $SYS.REQ.SERVER.PING.VARZ say the same.
package sysacct
