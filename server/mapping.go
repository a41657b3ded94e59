package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/natsd/natsd/server/subject"
)

// Subject mappings (mappings {} in an account, or at the top level for $G):
// a message published on a subject that matches a mapping's source is
// delivered as if published on the destination. A destination names the
// source's wildcards by position — $1 or {{wildcard(1)}} — and may hash
// some of them into a partition number: {{partition(n,1,2)}} is the FNV-1a
// 32-bit hash of wildcards 1 and 2, concatenated, modulo n (nats-server's
// function: the same subject goes to the same partition on every server).
// With several destinations one is chosen at random by weight; weights
// under 100 % in all leave the rest of the messages unmapped.

// mappings are an account's compiled mappings.
type mappings struct {
	list []*mapping
}

type mapping struct {
	src   []string // source tokens
	wilds int      // wildcards in the source
	dests []mapDest
	total int // sum of the weights
}

type mapDest struct {
	parts  []destPart // one per destination token
	weight int
}

// destPart is a destination token: a literal, a source wildcard, or a
// partition of some wildcards.
type destPart struct {
	literal string
	wild    int   // 1-based source wildcard, 0: none
	part    int   // partition count, 0: none
	of      []int // wildcards hashed into the partition
}

// compileMappings compiles configured mappings; the daemon checked them
// with CheckMapping, so errors do not happen here (a bad one is skipped).
func compileMappings(ms []*Mapping) *mappings {
	if len(ms) == 0 {
		return nil
	}
	out := &mappings{}
	for _, m := range ms {
		if cm, err := compileMapping(m); err == nil {
			out.list = append(out.list, cm)
		}
	}
	return out
}

// CheckMapping reports what is wrong with a mapping, as the daemon says it
// at the mapping's position.
func CheckMapping(m *Mapping) error {
	_, err := compileMapping(m)
	return err
}

func compileMapping(m *Mapping) (*mapping, error) {
	if !subject.ValidSubject(m.Source) {
		return nil, fmt.Errorf("invalid source subject %q", m.Source)
	}
	cm := &mapping{src: strings.Split(m.Source, ".")}
	for _, t := range cm.src {
		if t == "*" || t == ">" {
			cm.wilds++
		}
	}
	if len(m.Dests) == 0 {
		return nil, errors.New("a mapping needs a destination")
	}
	for _, d := range m.Dests {
		dd := mapDest{weight: d.Weight}
		if dd.weight == 0 && len(m.Dests) == 1 {
			dd.weight = 100
		}
		if dd.weight < 0 || dd.weight > 100 {
			return nil, fmt.Errorf("weight %d%% of %q is not 0-100%%", d.Weight, d.Subject)
		}
		toks := strings.Split(d.Subject, ".")
		for i, tok := range toks {
			if tok == ">" && i == len(toks)-1 && cm.src[len(cm.src)-1] == ">" {
				// "foo.>" → "bar.>": the rest goes where it was
				// (nats-server takes this, and no other wildcard, in a
				// destination).
				dd.parts = append(dd.parts, destPart{wild: cm.wilds})
				continue
			}
			p, err := destToken(tok, cm.wilds)
			if err != nil {
				return nil, fmt.Errorf("destination %q: %v", d.Subject, err)
			}
			dd.parts = append(dd.parts, p)
		}
		cm.total += dd.weight
		cm.dests = append(cm.dests, dd)
	}
	if cm.total > 100 {
		return nil, fmt.Errorf("weights add up to %d%%, over 100%%", cm.total)
	}
	return cm, nil
}

// destToken parses one destination token.
func destToken(tok string, wilds int) (destPart, error) {
	ref := func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > wilds {
			return 0, fmt.Errorf("wildcard %q: the source has %d", s, wilds)
		}
		return n, nil
	}
	switch {
	case tok == "":
		return destPart{}, errors.New("empty token")
	case strings.HasPrefix(tok, "$"):
		n, err := ref(tok[1:])
		return destPart{wild: n}, err
	case strings.HasPrefix(tok, "{{") && strings.HasSuffix(tok, "}}"):
		fn, args, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(tok, "{{"), "}}"), "(")
		if !ok || !strings.HasSuffix(args, ")") {
			return destPart{}, fmt.Errorf("bad function %q", tok)
		}
		list := strings.Split(strings.TrimSuffix(args, ")"), ",")
		switch strings.ToLower(strings.TrimSpace(fn)) {
		case "wildcard":
			if len(list) != 1 {
				return destPart{}, fmt.Errorf("wildcard takes one argument: %q", tok)
			}
			n, err := ref(list[0])
			return destPart{wild: n}, err
		case "partition":
			if len(list) < 2 {
				return destPart{}, fmt.Errorf("partition takes a count and wildcards: %q", tok)
			}
			n, err := strconv.Atoi(strings.TrimSpace(list[0]))
			if err != nil || n < 1 {
				return destPart{}, fmt.Errorf("partition count %q", list[0])
			}
			p := destPart{part: n}
			for _, a := range list[1:] {
				w, err := ref(a)
				if err != nil {
					return destPart{}, err
				}
				p.of = append(p.of, w)
			}
			return p, nil
		}
		return destPart{}, fmt.Errorf("unsupported function %q", fn)
	case strings.ContainsAny(tok, "*>"):
		return destPart{}, errors.New("a destination has no wildcards (name the source's with $1)")
	}
	return destPart{literal: tok}, nil
}

// apply returns the subject a message published on subj is delivered on,
// and whether a mapping changed it.
func (ms *mappings) apply(subj []byte) ([]byte, bool) {
	for _, m := range ms.list {
		wilds, ok := m.match(subj)
		if !ok {
			continue
		}
		d := m.pick()
		if d == nil {
			return subj, false // the unmapped share of the weights
		}
		return d.render(wilds), true
	}
	return subj, false
}

// match reports whether subj matches the source, with the tokens its
// wildcards stand for ('>' takes the rest).
func (m *mapping) match(subj []byte) ([]string, bool) {
	toks := strings.Split(string(subj), ".")
	var wilds []string
	for i, st := range m.src {
		switch {
		case st == ">":
			if i >= len(toks) {
				return nil, false
			}
			return append(wilds, strings.Join(toks[i:], ".")), true
		case i >= len(toks):
			return nil, false
		case st == "*":
			wilds = append(wilds, toks[i])
		case st != toks[i]:
			return nil, false
		}
	}
	return wilds, len(toks) == len(m.src)
}

func (m *mapping) pick() *mapDest {
	if len(m.dests) == 1 && m.total == 100 {
		return &m.dests[0]
	}
	r := rand.IntN(100)
	for i := range m.dests {
		if r < m.dests[i].weight {
			return &m.dests[i]
		}
		r -= m.dests[i].weight
	}
	return nil
}

func (d *mapDest) render(wilds []string) []byte {
	var b []byte
	for i, p := range d.parts {
		if i > 0 {
			b = append(b, '.')
		}
		switch {
		case p.part > 0:
			h := fnv.New32a()
			for _, w := range p.of {
				_, _ = h.Write([]byte(wilds[w-1]))
			}
			b = strconv.AppendUint(b, uint64(h.Sum32()%uint32(p.part)), 10)
		case p.wild > 0:
			b = append(b, wilds[p.wild-1]...)
		default:
			b = append(b, p.literal...)
		}
	}
	return b
}

// Transform is one source → destination subject mapping, outside any
// account: JetStream's subject transforms (a stream's, a source's, a
// republish) use the mapping language of accounts.
type Transform struct{ m *mapping }

// NewTransform compiles a transform; an empty source is ">".
func NewTransform(src, dest string) (*Transform, error) {
	if src == "" {
		src = ">"
	}
	m, err := compileMapping(&Mapping{Source: src, Dests: []MapDest{{Subject: dest, Weight: 100}}})
	if err != nil {
		return nil, err
	}
	return &Transform{m}, nil
}

// Apply maps subj; false when subj does not match the source.
func (t *Transform) Apply(subj string) (string, bool) {
	wilds, ok := t.m.match([]byte(subj))
	if !ok {
		return subj, false
	}
	return string(t.m.dests[0].render(wilds)), true
}
