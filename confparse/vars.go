package confparse

import (
	"strconv"
	"strings"
)

// resolve returns the value of the variable name, referenced at pos:
// first from the open maps, innermost first, seeing only keys defined
// before the reference; then from the environment. It returns nil after
// recording an error.
//
// A value from the tree is copied, so that the tree stays a tree (no
// shared subtrees: a later change to one place cannot show in another)
// and the copy can carry the reference's position.
func (p *parser) resolve(name string, pos Pos) *Node {
	for i := len(p.scopes) - 1; i >= 0; i-- {
		sc := &p.scopes[i]
		if j := sc.find(name); j >= 0 {
			e := sc.node.Entries[j]
			e.UsedAsVariable = true
			c := p.copyTree(e.Value, pos)
			if c == nil {
				return nil
			}
			c.Pos = pos
			return c
		}
	}
	return p.resolveEnv(name, pos)
}

// copyTree deep-copies n, charging the copied values to the session's
// expansion budget. It returns nil (after one error) when the budget runs
// out.
func (p *parser) copyTree(n *Node, pos Pos) *Node {
	if !p.charge(countNodes(n, p.s.budget+1), pos) {
		return nil
	}
	return p.clone(n)
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

func (p *parser) clone(n *Node) *Node {
	c := p.newNode(n.Kind, n.Pos)
	*c = *n
	if n.Items != nil {
		c.Items = make([]*Node, len(n.Items))
		for i, v := range n.Items {
			c.Items[i] = p.clone(v)
		}
	}
	if n.Entries != nil {
		c.Entries = make([]*Entry, len(n.Entries))
		for i, e := range n.Entries {
			ce := p.newEntry(e.Key, e.KeyPos, p.clone(e.Value))
			ce.Shadowed, ce.UsedAsVariable = e.Shadowed, e.UsedAsVariable
			c.Entries[i] = ce
		}
	}
	return c
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
