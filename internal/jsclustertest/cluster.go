package jsclustertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// Kind is the server implementation a cluster runs.
type Kind string

const (
	// Natsd is this repository's server, built with -tags natsd_testhooks
	// (testutil.NatsdBin), so that partitions can be made with its
	// route-drop hook (cluster/testhooks.go).
	Natsd Kind = "natsd"
	// NatsServer is the reference, nats-server v2.15.2
	// (testutil.NatsServerBin).
	NatsServer Kind = "nats-server"
)

// Options tune a cluster; the zero value is fine.
type Options struct {
	ClusterName string // cluster { name }; "jsc-<6 random digits>" if empty
	// ExtraConfig is appended to every node's configuration (top level).
	ExtraConfig string
	// CoreOnly leaves the jetstream block out: a plain core NATS cluster,
	// for testing the harness itself (partitions) where clustered
	// JetStream is not served.
	CoreOnly bool
}

// state is what the harness did to a node last.
type state int

const (
	up      state = iota
	stopped       // SIGSTOP
	down          // killed
)

// node is one server of the cluster. Its ports and store directory stay
// the same across restarts.
type node struct {
	name        string
	clientPort  int
	clusterPort int
	httpPort    int
	storeDir    string
	config      string
	blockFile   string // natsd only: the route-drop hook's file
	proc        *testutil.Proc
	state       state
}

// Cluster is n servers of one kind in a full mesh on loopback, JetStream
// on every node. Node indexes are 0-based: node i is server_name
// "n<i+1>". Every method that waits is bounded; the processes end with the
// test.
type Cluster struct {
	t    testing.TB
	kind Kind
	bin  string
	name string
	opts Options

	mu    sync.Mutex
	nodes []*node
}

// Start starts n (3 or 5) servers of kind and waits until they have
// elected a JetStream meta leader.
func Start(t testing.TB, kind Kind, n int, opts Options) *Cluster {
	t.Helper()
	if n != 3 && n != 5 {
		t.Fatalf("jsclustertest: clusters of 3 or 5 nodes, not %d", n)
	}
	c := &Cluster{t: t, kind: kind, name: opts.ClusterName, opts: opts}
	if c.name == "" {
		// Unique, so that a node never joins another test's cluster
		// whose node took a port this one's routes name.
		c.name = fmt.Sprintf("jsc-%06d", rand.IntN(1000000))
	}
	switch kind {
	case Natsd:
		c.bin = testutil.NatsdBin(t)
	case NatsServer:
		c.bin = testutil.NatsServerBin(t)
	default:
		t.Fatalf("jsclustertest: unknown kind %q", kind)
	}
	// testutil.FreePort keeps ports apart within this test process only: a
	// test process of another package may take one between the check and
	// the bind. Then the cluster starts again, on other ports.
	for attempt := 1; ; attempt++ {
		err := c.layout(n)
		if err == nil {
			for i := range c.nodes {
				if err = c.startNode(i); err != nil {
					break
				}
			}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("jsclustertest: %v; starting the cluster again on other ports", err)
		c.shutdown()
		c.nodes = nil
	}
	if opts.CoreOnly {
		c.WaitRoutes(10 * time.Second)
	} else {
		c.WaitMetaLeader(30 * time.Second)
		c.WaitHealthy(30 * time.Second)
	}
	return c
}

// errPortTaken: a server could not bind a port the harness picked.
var errPortTaken = errors.New("a port was taken by another process")

// layout picks the nodes' ports and directories and writes their files.
func (c *Cluster) layout(n int) error {
	dir := c.t.TempDir()
	for i := range n {
		nd := &node{
			name:        "n" + strconv.Itoa(i+1),
			clientPort:  testutil.FreePort(c.t),
			clusterPort: testutil.FreePort(c.t),
			httpPort:    testutil.FreePort(c.t),
		}
		nd.storeDir = filepath.Join(dir, nd.name, "store")
		nd.config = filepath.Join(dir, nd.name, "server.conf")
		nd.blockFile = filepath.Join(dir, nd.name, "route-block")
		c.nodes = append(c.nodes, nd)
	}
	var routes []string
	for _, nd := range c.nodes {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(nd.clusterPort))
	}
	for _, nd := range c.nodes {
		if err := os.MkdirAll(nd.storeDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(nd.config, []byte(c.configFor(nd, routes, c.opts)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(nd.blockFile, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// configFor is a node's configuration. natsd and nats-server read the same
// file; this is the exact shape the harness generates (see doc.go).
func (c *Cluster) configFor(nd *node, routes []string, opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\n", nd.name)
	fmt.Fprintf(&b, "listen: 127.0.0.1:%d\n", nd.clientPort)
	fmt.Fprintf(&b, "http: 127.0.0.1:%d\n", nd.httpPort)
	fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: 127.0.0.1:%d\n  routes: [\n", c.name, nd.clusterPort)
	for _, r := range routes {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	b.WriteString("  ]\n}\n")
	if !opts.CoreOnly {
		fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", nd.storeDir)
	}
	if opts.ExtraConfig != "" {
		b.WriteString(opts.ExtraConfig + "\n")
	}
	return b.String()
}

// startNode runs node i from its configuration and waits up to
// startTimeout for its ports file.
func (c *Cluster) startNode(i int) error {
	c.t.Helper()
	nd := c.nodes[i]
	var env []string
	if c.kind == Natsd {
		env = []string{"NATSD_TEST_ROUTE_BLOCK_FILE=" + nd.blockFile}
	}
	portsDir := c.t.TempDir()
	p := testutil.StartEnv(c.t, env, c.bin, "-c", nd.config, "--ports_file_dir", portsDir)
	c.mu.Lock()
	nd.proc, nd.state = p, up
	c.mu.Unlock()
	// Registered after the process's own cleanup, so it runs first: a
	// stopped process is continued, then all end together.
	c.t.Cleanup(c.shutdown)
	deadline := time.Now().Add(startTimeout)
	for {
		if files, _ := filepath.Glob(filepath.Join(portsDir, "*.ports")); len(files) > 0 {
			return nil
		}
		if p.Exited() {
			c.mu.Lock()
			nd.state = down
			c.mu.Unlock()
			if strings.Contains(p.Log(), "address already in use") {
				return fmt.Errorf("%s: %w:\n%s", nd.name, errPortTaken, p.Log())
			}
			return fmt.Errorf("jsclustertest: %s (%s) exited before it was ready:\n%s", nd.name, filepath.Base(c.bin), p.Log())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jsclustertest: %s (%s) wrote no ports file within %v:\n%s", nd.name, filepath.Base(c.bin), startTimeout, p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startTimeout bounds a server's start.
const startTimeout = 10 * time.Second

// shutdown continues stopped nodes and ends every process at once.
func (c *Cluster) shutdown() {
	c.mu.Lock()
	var procs []*testutil.Proc
	for _, nd := range c.nodes {
		if nd.proc == nil {
			continue
		}
		if nd.state == stopped {
			nd.proc.Signal(sigCont)
		}
		procs = append(procs, nd.proc)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.Stop)
	}
	wg.Wait()
}

// Kind is the server implementation.
func (c *Cluster) Kind() Kind { return c.kind }

// ClusterName is the cluster's name (cluster { name }).
func (c *Cluster) ClusterName() string { return c.name }

// N is the number of nodes.
func (c *Cluster) N() int { return len(c.nodes) }

// Name is node i's server_name ("n<i+1>").
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Index is the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// ClientURL is node i's client URL.
func (c *Cluster) ClientURL(i int) string {
	return "nats://127.0.0.1:" + strconv.Itoa(c.nodes[i].clientPort)
}

// URLs are every node's client URL, node 0 first.
func (c *Cluster) URLs() []string {
	var urls []string
	for i := range c.nodes {
		urls = append(urls, c.ClientURL(i))
	}
	return urls
}

// MonitorURL is node i's HTTP monitoring base URL.
func (c *Cluster) MonitorURL(i int) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.nodes[i].httpPort)
}

// StoreDir is node i's jetstream store_dir.
func (c *Cluster) StoreDir(i int) string { return c.nodes[i].storeDir }

// ConfigFile is node i's configuration file.
func (c *Cluster) ConfigFile(i int) string { return c.nodes[i].config }

// Log is what node i's current process wrote.
func (c *Cluster) Log(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].proc.Log()
}

// Up reports whether node i runs (neither killed nor stopped).
func (c *Cluster) Up(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].state == up
}

// Kill9 kills node i with SIGKILL and waits for it to die.
func (c *Cluster) Kill9(i int) {
	c.mu.Lock()
	nd := c.nodes[i]
	p := nd.proc
	nd.state = down
	c.mu.Unlock()
	p.Kill()
}

// Terminate shuts node i down cleanly (SIGTERM) and waits for it.
func (c *Cluster) Terminate(i int) {
	c.mu.Lock()
	nd := c.nodes[i]
	p := nd.proc
	nd.state = down
	c.mu.Unlock()
	p.Stop()
}

// Stop pauses node i with SIGSTOP: its sockets stay open, it answers
// nothing, as a hung machine.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.state != up {
		c.t.Fatalf("jsclustertest: Stop(%d): %s is not running", i, nd.name)
	}
	nd.proc.Signal(sigStop)
	nd.state = stopped
}

// Cont resumes node i after Stop.
func (c *Cluster) Cont(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.state != stopped {
		c.t.Fatalf("jsclustertest: Cont(%d): %s is not stopped", i, nd.name)
	}
	nd.proc.Signal(sigCont)
	nd.state = up
}

// Restart starts node i again after Kill9, with the same configuration:
// ports and store directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	st := c.nodes[i].state
	c.mu.Unlock()
	if st != down {
		c.t.Fatalf("jsclustertest: Restart(%d): %s is still running: Kill9 it first", i, c.nodes[i].name)
	}
	if err := c.startNode(i); err != nil {
		// A restarted node keeps its ports (its peers' routes and the
		// clients name them): one taken meanwhile cannot be replaced.
		c.t.Fatalf("jsclustertest: Restart(%d): %v", i, err)
	}
}

// ErrPartitionUnsupported: only natsd has the route-drop hook that
// Partition uses. A test that needs partitions runs for natsd only.
var ErrPartitionUnsupported = errors.New("jsclustertest: partitions need natsd's route-drop test hook; nats-server has none")

// Partition cuts the cluster into groups of node indexes (every node in
// exactly one group): each node's route-drop file lists the nodes outside
// its group, and the routes between groups close and stay closed until
// Heal. It returns at once; wait for the effect (routes, leaders).
func (c *Cluster) Partition(groups ...[]int) error {
	if c.kind != Natsd {
		return ErrPartitionUnsupported
	}
	group := make([]int, len(c.nodes))
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(c.nodes) || group[i] != -1 {
				return fmt.Errorf("jsclustertest: Partition: node %d is out of range or in two groups", i)
			}
			group[i] = g
		}
	}
	for i, g := range group {
		if g == -1 {
			return fmt.Errorf("jsclustertest: Partition: node %d is in no group", i)
		}
	}
	for i, nd := range c.nodes {
		var cut []string
		for j, other := range c.nodes {
			if group[j] != group[i] {
				cut = append(cut, other.name)
			}
		}
		if err := writeFileAtomic(nd.blockFile, strings.Join(cut, "\n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// Heal ends a partition: every route-drop file is emptied.
func (c *Cluster) Heal() error {
	if c.kind != Natsd {
		return ErrPartitionUnsupported
	}
	for _, nd := range c.nodes {
		if err := writeFileAtomic(nd.blockFile, ""); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic replaces path so that a poller never reads half of it.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Connect connects a client to node i first (then the others, in order)
// that reconnects for as long as the test runs and notices a dead or
// stopped server within a few seconds. It is closed when the test ends.
func (c *Cluster) Connect(i int, opts ...nats.Option) *nats.Conn {
	c.t.Helper()
	urls := append([]string{c.ClientURL(i)}, c.URLs()...)
	all := append([]nats.Option{
		nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
		nats.Timeout(2 * time.Second), nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2),
		nats.Name("jsclustertest-" + c.nodes[i].name),
	}, opts...)
	var nc *nats.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if nc, err = nats.Connect(strings.Join(urls, ","), all...); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("jsclustertest: connecting to %s: %v", c.nodes[i].name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// ConnectOnly connects a client to node i alone: it reconnects to that
// node only, so that what it sees is what that node does (a node cut off
// by a partition, say). It is closed when the test ends.
func (c *Cluster) ConnectOnly(i int, opts ...nats.Option) *nats.Conn {
	c.t.Helper()
	all := append([]nats.Option{
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond), nats.Timeout(2 * time.Second),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2), nats.Name("jsclustertest-only-" + c.nodes[i].name),
		// Servers gossip the others' client URLs: ignore them.
		nats.IgnoreDiscoveredServers(),
	}, opts...)
	var nc *nats.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if nc, err = nats.Connect(c.ClientURL(i), all...); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("jsclustertest: connecting to %s: %v", c.nodes[i].name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// JetStream is a JetStream context on a new connection to node i.
func (c *Cluster) JetStream(i int, opts ...nats.Option) jetstream.JetStream {
	c.t.Helper()
	js, err := jetstream.New(c.Connect(i, opts...))
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}
