package jwtauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nats-io/nkeys"
)

// resolver holds account JWTs by account public key.
type resolver interface {
	// open makes the store ready (a directory is created).
	open() error
	// preload stores a resolver_preload JWT (a directory keeps one it
	// already has: it may be newer, pushed since).
	preload(pub, token string) error
	// fetch returns the account's JWT, or errAccountMissing.
	fetch(pub string) (string, error)
	// update stores a pushed JWT. known reports whether the account was
	// there before; a resolver that takes only known accounts stores
	// nothing for others and says so (stored false).
	update(pub, token string) (stored bool, err error)
	// kind is the resolver's type (ResolverMemory, …).
	kind() string
}

func newResolver(o ResolverOptions) (resolver, error) {
	switch o.Type {
	case ResolverMemory:
		return &memResolver{jwts: map[string]string{}}, nil
	case ResolverFull, ResolverCache:
		if o.Dir == "" {
			return nil, errors.New("a directory resolver needs a dir")
		}
		limit := o.Limit
		if limit <= 0 {
			limit = DefaultResolverLimit
		}
		return &dirResolver{dir: o.Dir, full: o.Type == ResolverFull, limit: limit}, nil
	case "":
		return nil, errors.New("operator mode needs a resolver: MEMORY, or resolver { type: full|cache, dir: … }")
	}
	return nil, fmt.Errorf("unknown resolver type %q", o.Type)
}

// memResolver is resolver: MEMORY: the preloaded JWTs, which pushes may
// replace (recorded: nats-server skips pushes for accounts it was not
// preloaded with).
type memResolver struct {
	mu   sync.Mutex
	jwts map[string]string
}

func (m *memResolver) open() error  { return nil }
func (m *memResolver) kind() string { return ResolverMemory }

func (m *memResolver) preload(pub, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jwts[pub] = token
	return nil
}

func (m *memResolver) fetch(pub string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.jwts[pub]; ok {
		return t, nil
	}
	return "", errAccountMissing
}

func (m *memResolver) update(pub, token string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jwts[pub]; !ok {
		return false, nil
	}
	m.jwts[pub] = token
	return true, nil
}

// dirResolver keeps one file per account, <dir>/<account>.jwt, as
// nats-server's directory resolvers do. full takes every pushed account
// (up to limit); cache only those it has.
type dirResolver struct {
	dir   string
	full  bool
	limit int
	mu    sync.Mutex
}

func (d *dirResolver) kind() string {
	if d.full {
		return ResolverFull
	}
	return ResolverCache
}

func (d *dirResolver) open() error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	probe, err := os.CreateTemp(d.dir, ".natsd-probe-*")
	if err != nil {
		return fmt.Errorf("resolver dir %s is not writable: %v", d.dir, err)
	}
	name := probe.Name()
	_ = probe.Close()
	return os.Remove(name)
}

// path is the account's file; pub is checked first, so that no name
// reaches outside the directory.
func (d *dirResolver) path(pub string) (string, error) {
	if !nkeys.IsValidPublicAccountKey(pub) {
		return "", fmt.Errorf("%q is not an account public key", pub)
	}
	return filepath.Join(d.dir, pub+".jwt"), nil
}

func (d *dirResolver) preload(pub, token string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.path(pub)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return writeFileAtomic(p, token)
}

func (d *dirResolver) fetch(pub string) (string, error) {
	p, err := d.path(pub)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", errAccountMissing
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (d *dirResolver) update(pub, token string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.path(pub)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(p); err != nil {
		if !d.full {
			return false, nil // a cache stores only what it has
		}
		if n := d.count(); n >= d.limit {
			return false, fmt.Errorf("resolver is full (%d account JWTs)", n)
		}
	}
	return true, writeFileAtomic(p, token)
}

// count is how many account JWTs the directory holds.
func (d *dirResolver) count() int {
	m, _ := filepath.Glob(filepath.Join(d.dir, "*.jwt"))
	return len(m)
}

// writeFileAtomic writes a JWT next to p and renames it into place: a
// reader never sees half a token.
func writeFileAtomic(p, token string) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".jwt-*")
	if err != nil {
		return err
	}
	_, werr := f.WriteString(token)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return errors.Join(werr, cerr)
	}
	return os.Rename(f.Name(), p)
}
