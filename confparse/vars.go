package confparse

import (
	"slices"
	"strconv"
	"strings"
)

// resolve returns the value of the variable name, referenced at pos:
// first from the open maps, innermost first, seeing only keys defined
// before the reference; then from the environment. It returns nil after
// recording an error.
//
// The result is a copy of the definition's top node, carrying the
// reference's position; its children are shared with the definition.
// Copying whole subtrees made permissions maps referenced by every user
// the main cost of a parse, and the tree is read-only once returned. The
// shared children still count against the expansion budget, so that a
// consumer walking the tree (TypedJSON, Digest) stays bounded too.
func (p *parser) resolve(name string, pos Pos) *Node {
	for i := len(p.scopes) - 1; i >= 0; i-- {
		sc := &p.scopes[i]
		if j := sc.find(name); j >= 0 {
			e := sc.node.Entries[j]
			e.UsedAsVariable = true
			if !p.charge(countNodes(e.Value, p.s.budget+1), pos) {
				return nil
			}
			c := p.newNode(e.Value.Kind, pos)
			*c = *e.Value
			c.Pos = pos
			// Clipped, so that appending to the copy's slices reallocates
			// rather than writing into the definition's spare capacity.
			c.Items = slices.Clip(c.Items)
			c.Entries = slices.Clip(c.Entries)
			return c
		}
	}
	return p.resolveEnv(name, pos)
}

// charge takes n values from the expansion budget, recording an error the
// first time it runs out.
func (p *parser) charge(n int, pos Pos) bool {
	if p.s.budget <= 0 {
		return false // already reported
	}
	if n > p.s.budget {
		p.s.budget = 0
		p.errorf(pos, "variables expand to more than %d values; the configuration is too large", maxExpansion)
		return false
	}
	p.s.budget -= n
	return true
}

// countNodes counts the values in n, stopping once it passes limit.
func countNodes(n *Node, limit int) int {
	count := 1
	for _, c := range n.Items {
		if count > limit {
			break
		}
		count += countNodes(c, limit-count)
	}
	for _, e := range n.Entries {
		if count > limit {
			break
		}
		count += countNodes(e.Value, limit-count)
	}
	return count
}

// resolveEnv resolves name from the environment. The environment value is
// parsed as a configuration value, as nats-server does (so X=2kb gives the
// integer 2048, and X="[a, b]" an array); it may reference other
// variables, and a reference cycle is an error. An empty value is the
// empty string.
func (p *parser) resolveEnv(name string, pos Pos) *Node {
	for i, r := range p.s.resolving {
		if r == name {
			cycle := append(append([]string{}, p.s.resolving[i:]...), name)
			p.errorf(pos, "variable %q: reference cycle %s", "$"+name, "$"+strings.Join(cycle, " -> $"))
			return nil
		}
	}
	val, ok := p.s.lookupEnv(name)
	if !ok {
		p.errorf(pos, "variable %q is not defined", "$"+name)
		return nil
	}
	if strings.Trim(val, " \t") == "" {
		n := p.newNode(String, pos)
		n.Raw = val
		return n
	}

	p.s.resolving = append(p.s.resolving, name)
	defer func() { p.s.resolving = p.s.resolving[:len(p.s.resolving)-1] }()

	var errs ErrorList
	sub := p.s.newParser(p.file, val, nil, &errs)
	sub.env = true
	sub.lx.state = lexEnvStart
	sub.lx.key = name
	n := sub.parseEnvValue()
	if len(errs) > 0 {
		msg := errs[0].Msg
		if !strings.HasPrefix(msg, "variable") {
			msg = "environment value " + quoteShort(val) + ": " + msg
		}
		p.errorf(pos, "variable %q: %s", "$"+name, msg)
		return nil
	}
	if !p.charge(countNodes(n, p.s.budget+1), pos) {
		return nil
	}
	setPos(n, pos)
	return n
}

// lexEnvStart starts the lexing of an environment value: one value, then
// what may follow a top-level value (blank space, a comment).
func lexEnvStart(lx *lexer) stateFn {
	lx.seenEntry = true // no braces around the whole "file"
	if strings.IndexByte(lx.src, 0) >= 0 {
		return lx.errorf("NUL byte in value")
	}
	return lexValue
}

// parseEnvValue parses an environment variable's value: one value and
// nothing after it.
func (p *parser) parseEnvValue() *Node {
	// The value's own maps are scopes too, as in a file.
	n, ok := p.parseValue(p.lx.nextItem())
	if !ok || n == nil {
		return nil
	}
	if it := p.lx.nextItem(); it.typ != itemEOF {
		if it.typ == itemError {
			p.unexpected(it)
		} else {
			p.errorf(p.pos(it), "unexpected text after the value")
		}
		return nil
	}
	return n
}

// setPos gives every value and key of a tree from the environment the
// position of the reference: the environment has no file to point into.
func setPos(n *Node, pos Pos) {
	n.Pos = pos
	for _, c := range n.Items {
		setPos(c, pos)
	}
	for _, e := range n.Entries {
		e.KeyPos = pos
		for i := range e.Shadowed {
			e.Shadowed[i] = pos
		}
		setPos(e.Value, pos)
	}
}

// quoteShort quotes s for a message, shortened when long.
func quoteShort(s string) string {
	const max = 60
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
