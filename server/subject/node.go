package subject

import "strings"

// The trie: a level holds the children of one token position, a node holds
// the subscriptions whose subject ends at it and the level below it. All of
// it is guarded by Sublist.mu.

type level[S comparable] struct {
	nodes map[string]*node[S] // literal tokens; nil while empty
	pwc   *node[S]            // the '*' child
	fwc   *node[S]            // the '>' child (never has a next level)
}

type node[S comparable] struct {
	next   *level[S] // nil while no longer subject passes through here
	plain  set[S]
	queues []*queueSet[S] // searched linearly: a subject rarely has many groups
}

type queueSet[S comparable] struct {
	name    string
	members set[S]
}

// child returns the node for tok, creating it if create is set.
func (lv *level[S]) child(tok string, create bool) *node[S] {
	var p **node[S]
	switch {
	case isWild(tok, pwc):
		p = &lv.pwc
	case isWild(tok, fwc):
		p = &lv.fwc
	default:
		if n := lv.nodes[tok]; n != nil || !create {
			return n
		}
		if lv.nodes == nil {
			lv.nodes = make(map[string]*node[S])
		}
		n := new(node[S])
		// Clone so the map key does not pin the caller's string, which
		// may be a slice of something much larger.
		lv.nodes[strings.Clone(tok)] = n
		return n
	}
	if *p == nil && create {
		*p = new(node[S])
	}
	return *p
}

// drop unlinks the child for tok. A map that empties is released, because Go
// maps never shrink and a burst of subscriptions would otherwise leave its
// peak size behind for good.
func (lv *level[S]) drop(tok string) {
	switch {
	case isWild(tok, pwc):
		lv.pwc = nil
	case isWild(tok, fwc):
		lv.fwc = nil
	default:
		delete(lv.nodes, tok)
		if len(lv.nodes) == 0 {
			lv.nodes = nil
		}
	}
}

func (lv *level[S]) empty() bool {
	return len(lv.nodes) == 0 && lv.pwc == nil && lv.fwc == nil
}

// hasSubs reports whether subscriptions end at n.
func (n *node[S]) hasSubs() bool { return len(n.plain.items) > 0 || len(n.queues) > 0 }

// prunable reports whether n carries nothing and can be unlinked.
func (n *node[S]) prunable() bool {
	return !n.hasSubs() && (n.next == nil || n.next.empty())
}

func (n *node[S]) queue(name string) (int, *queueSet[S]) {
	for i, q := range n.queues {
		if q.name == name {
			return i, q
		}
	}
	return -1, nil
}

// add records s, reporting false if it was already there.
func (n *node[S]) add(queue string, s S) bool {
	if queue == "" {
		return n.plain.add(s)
	}
	_, q := n.queue(queue)
	if q == nil {
		q = &queueSet[S]{name: strings.Clone(queue)}
		n.queues = append(n.queues, q)
	}
	return q.members.add(s)
}

// remove deletes s, reporting false if it was not there. An emptied queue
// group is dropped so that Match never reports a group with no members.
func (n *node[S]) remove(queue string, s S) bool {
	if queue == "" {
		return n.plain.remove(s)
	}
	i, q := n.queue(queue)
	if q == nil || !q.members.remove(s) {
		return false
	}
	if len(q.members.items) == 0 {
		last := len(n.queues) - 1
		n.queues[i] = n.queues[last]
		n.queues[last] = nil
		n.queues = n.queues[:last]
		if last == 0 {
			n.queues = nil
		}
	}
	return true
}

// set is a set of handles kept in a slice, so that building a match result
// is a plain copy. Small sets are searched linearly; past indexAt members an
// index map keeps add and remove O(1) for high fan-out subjects (10,000
// subscribers on one subject would otherwise cost 50M comparisons to fill).
type set[S comparable] struct {
	items []S
	idx   map[S]int
}

const indexAt = 16

func (st *set[S]) find(s S) int {
	if st.idx != nil {
		if i, ok := st.idx[s]; ok {
			return i
		}
		return -1
	}
	for i, x := range st.items {
		if x == s {
			return i
		}
	}
	return -1
}

func (st *set[S]) add(s S) bool {
	if st.find(s) >= 0 {
		return false
	}
	st.items = append(st.items, s)
	switch {
	case st.idx != nil:
		st.idx[s] = len(st.items) - 1
	case len(st.items) > indexAt:
		st.idx = make(map[S]int, 2*len(st.items))
		for i, x := range st.items {
			st.idx[x] = i
		}
	}
	return true
}

// remove swaps the last member into the hole: delivery order among the
// subscribers of one subject is not part of the protocol.
func (st *set[S]) remove(s S) bool {
	i := st.find(s)
	if i < 0 {
		return false
	}
	last := len(st.items) - 1
	if i != last {
		st.items[i] = st.items[last]
		if st.idx != nil {
			st.idx[st.items[i]] = i
		}
	}
	var zero S
	st.items[last] = zero // do not keep the handle reachable
	st.items = st.items[:last]
	if st.idx != nil {
		delete(st.idx, s)
		if last <= indexAt/2 {
			st.idx = nil // fresh map later rather than a big empty one now
		}
	}
	// Give back memory after a burst: churn must not leave every node at
	// its peak size.
	switch {
	case last == 0:
		st.items = nil
	case cap(st.items) > 32 && last < cap(st.items)/4:
		st.items = append(make([]S, 0, 2*last), st.items...)
		if st.idx != nil { // the map has not shrunk either
			st.idx = make(map[S]int, 2*last)
			for j, x := range st.items {
				st.idx[x] = j
			}
		}
	}
	return true
}
