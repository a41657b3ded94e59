package jscluster

import (
	"crypto/rand"
	"encoding/base32"
	"hash/fnv"
	"strconv"
	"strings"
)

// NodeID is a server's Raft node id: a 64-bit hash of its server_name
// (required and unique in a cluster with JetStream, as in nats-server).
// Never 0, which etcd/raft reserves.
func NodeID(serverName string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(serverName))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}

// idToken is an id as a subject token.
func idToken(id uint64) string { return strconv.FormatUint(id, 36) }

var groupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newGroupName names a new stream's group, once and never again: a stream
// deleted and made again gets a new group (nats-server's form,
// S-R<replicas>F-<random>).
func newGroupName(replicas int) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "S-R" + strconv.Itoa(replicas) + "F-" + strings.ToLower(groupEncoding.EncodeToString(b[:]))
}
