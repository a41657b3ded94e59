// Package monitor serves natsd's monitoring HTTP endpoints — /varz, /connz,
// /routez, /subsz, /healthz — with nats-server's paths, query parameters and
// JSON field names. The data comes from the server (and cluster) as plain
// structs; this package only decodes queries and encodes answers.
package monitor
