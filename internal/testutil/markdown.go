package testutil

import (
	"bufio"
	"bytes"
	"strings"
)

// MarkdownBlock is one fenced code block of a Markdown document.
type MarkdownBlock struct {
	Line int    // of the opening fence, 1-based
	Lang string // the first word of the info string ("conf", "sh"), or ""
	Text []byte // the lines between the fences, each ending in \n
}

// MarkdownBlocks returns the fenced code blocks of a Markdown document, so
// that tests can check the examples the docs give (config files, command
// lines). A fence is ``` or longer (or ~~~), possibly indented; it ends at
// a fence of the same character at least as long with nothing after it.
func MarkdownBlocks(src []byte) []MarkdownBlock {
	var out []MarkdownBlock
	var cur *MarkdownBlock
	var fence string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		trimmed := strings.TrimLeft(text, " ")
		if cur == nil {
			f := fenceOf(trimmed)
			if f == "" {
				continue
			}
			fence = f
			cur = &MarkdownBlock{Line: line}
			if info := strings.Fields(trimmed[len(f):]); len(info) > 0 {
				cur.Lang = info[0]
			}
			continue
		}
		if f := fenceOf(trimmed); strings.HasPrefix(f, fence) && strings.TrimSpace(trimmed[len(f):]) == "" {
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.Text = append(cur.Text, text...)
		cur.Text = append(cur.Text, '\n')
	}
	return out
}

// fenceOf returns the run of three or more backticks or tildes s starts
// with, or "".
func fenceOf(s string) string {
	if s == "" || (s[0] != '`' && s[0] != '~') {
		return ""
	}
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	if n < 3 {
		return ""
	}
	return s[:n]
}
