package confparse

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// include parses the file named by the include directive kw (file name in
// path) and merges its top-level entries into the map of scope sc, later
// keys replacing earlier ones as usual.
//
// The included file is parsed on its own, as nats-server does: its
// variables resolve within it and from the environment, not from the
// including file. Its keys, once merged, are visible as variables to what
// follows the directive.
func (p *parser) include(sc int, kw, path item) {
	pathPos := p.pos(path)
	if p.env {
		p.errorf(pathPos, "include is not allowed in an environment variable's value")
		return
	}
	name := path.val
	if name == "" {
		p.errorf(pathPos, "include needs a file name")
		return
	}
	file := filepath.Clean(name)
	if !filepath.IsAbs(name) {
		file = filepath.Join(filepath.Dir(p.file), name)
	}
	s := p.s
	s.listFile(file)

	id := fileID(file)
	for i, f := range s.including {
		if f.id == id {
			names := make([]string, 0, len(s.including)-i+1)
			for _, g := range s.including[i:] {
				names = append(names, g.name)
			}
			names = append(names, file)
			p.errorf(pathPos, "include cycle: %s", strings.Join(names, " -> "))
			return
		}
	}
	if len(s.including) > maxIncludeDepth {
		p.errorf(pathPos, "includes nested more than %d deep", maxIncludeDepth)
		return
	}
	if s.includes++; s.includes > maxIncludes {
		if s.includes == maxIncludes+1 {
			p.errorf(pathPos, "more than %d includes", maxIncludes)
		}
		return
	}
	data, err := s.read(file)
	if err != nil {
		*p.errs = append(*p.errs, &Error{Pos: pathPos, Includes: p.chain, cause: err,
			Msg: fmt.Sprintf("include file %q: %v", name, err)})
		return
	}

	chain := make([]Pos, len(p.chain), len(p.chain)+1)
	copy(chain, p.chain)
	chain = append(chain, p.pos(kw))
	s.including = append(s.including, openFile{id: id, name: file})
	sub := s.newParser(file, string(data), chain, p.errs)
	root := sub.parseFile()
	s.including = s.including[:len(s.including)-1]

	for _, e := range root.Entries {
		p.set(sc, e)
	}
}

// fileID identifies a file for include cycle detection, so that a.conf
// and ./a.conf are the same file. (Symbolic links are not resolved; a
// cycle through one still ends at maxIncludeDepth.)
func fileID(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// read returns the contents of a configuration file. Only regular files
// are read: opening a FIFO would block, and /dev/zero would never end.
func (s *session) read(path string) ([]byte, error) {
	if s.readFile != nil {
		return s.readFile(path)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return os.ReadFile(path)
}
