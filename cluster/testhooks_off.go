//go:build !natsd_testhooks

package cluster

// The production build has no test hooks (testhooks.go): these compile to
// nothing.

func (c *Cluster) blockedPeer(string) bool { return false }

func (c *Cluster) startTestHooks() {}
