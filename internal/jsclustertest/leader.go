package jsclustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// requestTimeout bounds every request the harness makes itself.
const requestTimeout = 2 * time.Second

var httpClient = &http.Client{Timeout: requestTimeout}

// getJSON reads a monitoring endpoint into v.
func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// jsz is the part of /jsz the harness reads.
type jsz struct {
	Meta *struct {
		Name   string `json:"name"`
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Name    string `json:"name"`
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
			State jetstream.StreamState `json:"state"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// MetaLeader is the node the first running node names as JetStream meta
// leader (/jsz meta_cluster.leader).
func (c *Cluster) MetaLeader() (int, error) {
	var errs []error
	for i := range c.nodes {
		if !c.Up(i) {
			continue
		}
		var z jsz
		if err := getJSON(c.MonitorURL(i)+"/jsz", &z); err != nil {
			errs = append(errs, err)
			continue
		}
		if z.Meta == nil || z.Meta.Leader == "" {
			errs = append(errs, fmt.Errorf("%s knows no meta leader", c.Name(i)))
			continue
		}
		if l := c.Index(z.Meta.Leader); l >= 0 {
			return l, nil
		}
		errs = append(errs, fmt.Errorf("%s names an unknown meta leader %q", c.Name(i), z.Meta.Leader))
	}
	return -1, fmt.Errorf("no meta leader: %w", errors.Join(errs...))
}

// WaitMetaLeader waits up to timeout for a meta leader and returns it.
func (c *Cluster) WaitMetaLeader(timeout time.Duration) int {
	c.t.Helper()
	l := -1
	testutil.Eventually(c.t, timeout, func() error {
		var err error
		l, err = c.MetaLeader()
		return err
	})
	return l
}

// StreamLeader is the leader of stream as the JetStream API answers (stream
// info's cluster.leader), asked of each running node in turn.
func (c *Cluster) StreamLeader(stream string) (int, error) {
	var errs []error
	for i := range c.nodes {
		if !c.Up(i) {
			continue
		}
		l, err := c.streamLeaderVia(i, stream)
		if err == nil {
			return l, nil
		}
		errs = append(errs, fmt.Errorf("asking %s: %w", c.Name(i), err))
	}
	return -1, fmt.Errorf("no leader for stream %s: %w", stream, errors.Join(errs...))
}

func (c *Cluster) streamLeaderVia(i int, stream string) (int, error) {
	nc, err := nats.Connect(c.ClientURL(i), nats.Timeout(requestTimeout), nats.NoReconnect())
	if err != nil {
		return -1, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1, err
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, errors.New("stream info names no leader")
	}
	l := c.Index(info.Cluster.Leader)
	if l < 0 {
		return -1, fmt.Errorf("unknown leader %q", info.Cluster.Leader)
	}
	return l, nil
}

// WaitStreamLeader waits up to timeout for stream to have a leader and
// returns it.
func (c *Cluster) WaitStreamLeader(stream string, timeout time.Duration) int {
	c.t.Helper()
	l := -1
	testutil.Eventually(c.t, timeout, func() error {
		var err error
		l, err = c.StreamLeader(stream)
		return err
	})
	return l
}

// NodeStreamState is node i's own replica of stream (any account), as its
// /jsz?accounts=true&streams=true reports it: what that node has stored,
// whoever leads.
func (c *Cluster) NodeStreamState(i int, stream string) (jetstream.StreamState, error) {
	var z jsz
	if err := getJSON(c.MonitorURL(i)+"/jsz?accounts=true&streams=true", &z); err != nil {
		return jetstream.StreamState{}, err
	}
	for _, a := range z.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State, nil
			}
		}
	}
	return jetstream.StreamState{}, fmt.Errorf("%s has no replica of stream %s", c.Name(i), stream)
}

// WaitCaughtUp waits until every running node's own replica of stream
// ends at the same sequence, at least atLeast (the last acknowledged): a
// publish whose acknowledgement was lost to a fault (a timeout, a kill)
// may have been committed too.
func (c *Cluster) WaitCaughtUp(stream string, atLeast uint64, timeout time.Duration) {
	c.t.Helper()
	testutil.Eventually(c.t, timeout, func() error {
		var first uint64
		seen := false
		for i := range c.nodes {
			if !c.Up(i) {
				continue
			}
			st, err := c.NodeStreamState(i, stream)
			if err != nil {
				return err
			}
			if st.LastSeq < atLeast {
				return fmt.Errorf("%s's replica of %s ends at %d, before the acknowledged %d", c.Name(i), stream, st.LastSeq, atLeast)
			}
			if !seen {
				first, seen = st.LastSeq, true
			} else if st.LastSeq != first {
				return fmt.Errorf("replicas of %s end at %d and %d", stream, first, st.LastSeq)
			}
		}
		return nil
	})
}

// NumRoutes is the number of peers node i has a route to: the distinct
// remote_id of its /routez (nats-server keeps several connections to each
// peer: a pool and one for the system account).
func (c *Cluster) NumRoutes(i int) (int, error) {
	var r struct {
		Routes []struct {
			RemoteID string `json:"remote_id"`
		} `json:"routes"`
	}
	if err := getJSON(c.MonitorURL(i)+"/routez", &r); err != nil {
		return 0, err
	}
	peers := map[string]bool{}
	for _, rt := range r.Routes {
		peers[rt.RemoteID] = true
	}
	return len(peers), nil
}

// WaitRoutes waits until every running node has a route to every other
// running node.
func (c *Cluster) WaitRoutes(timeout time.Duration) {
	c.t.Helper()
	c.WaitRouteCounts(timeout, nil)
}

// WaitRouteCounts waits until each running node i has want[i] routes (nil
// want: one to every other running node).
func (c *Cluster) WaitRouteCounts(timeout time.Duration, want []int) {
	c.t.Helper()
	testutil.Eventually(c.t, timeout, func() error {
		running := 0
		for i := range c.nodes {
			if c.Up(i) {
				running++
			}
		}
		for i := range c.nodes {
			if !c.Up(i) {
				continue
			}
			w := running - 1
			if want != nil {
				w = want[i]
			}
			n, err := c.NumRoutes(i)
			if err != nil {
				return err
			}
			if n != w {
				return fmt.Errorf("%s has %d routes, want %d", c.Name(i), n, w)
			}
		}
		return nil
	})
}

// WaitHealthy waits until every running node's /healthz answers 200 (for a
// JetStream node: JetStream and its meta group are current).
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	testutil.Eventually(c.t, timeout, func() error {
		for i := range c.nodes {
			if !c.Up(i) {
				continue
			}
			var h map[string]any
			if err := getJSON(c.MonitorURL(i)+"/healthz", &h); err != nil {
				return fmt.Errorf("%s: %w", c.Name(i), err)
			}
		}
		return nil
	})
}
