package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Ports is the ports file's JSON, as nats-server writes it: test harnesses
// start "nats-server -p -1 --ports_file_dir DIR" and read the chosen ports
// from DIR/<program>_<pid>.ports.
type Ports struct {
	Nats       []string `json:"nats,omitempty"`
	Monitoring []string `json:"monitoring,omitempty"`
	Cluster    []string `json:"cluster,omitempty"`
	WebSocket  []string `json:"websocket,omitempty"`
}

// listenerURLs lists scheme://addr for a listener; an unspecified host
// expands to every address of this machine, loopback included, as
// nats-server's ports file does.
func listenerURLs(scheme string, ln net.Listener) []string {
	if ln == nil {
		return nil
	}
	a, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return []string{scheme + "://" + ln.Addr().String()}
	}
	port := strconv.Itoa(a.Port)
	if !a.IP.IsUnspecified() {
		return []string{scheme + "://" + net.JoinHostPort(a.IP.String(), port)}
	}
	var urls []string
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if ipn, ok := ad.(*net.IPNet); ok {
			urls = append(urls, scheme+"://"+net.JoinHostPort(ipn.IP.String(), port))
		}
	}
	return urls
}

// portsNow describes the listeners the daemon has.
func (d *Daemon) portsNow() Ports {
	o := d.currentOpts()
	scheme := "nats"
	if o.Server.TLS != nil && !o.Server.AllowNonTLS {
		scheme = "tls" // as nats-server writes it: clients must use TLS
	}
	wsScheme := "ws"
	if wsTLS(o) != nil {
		wsScheme = "wss"
	}
	return Ports{
		Nats:       listenerURLs(scheme, d.listener("client")),
		Monitoring: append(listenerURLs("http", d.listener("monitor")), listenerURLs("https", d.listener("https"))...),
		Cluster:    listenerURLs("nats", d.listener("cluster")),
		WebSocket:  listenerURLs(wsScheme, d.listener("websocket")),
	}
}

// writePortsFile writes the ports file when ports_file_dir is set.
func (d *Daemon) writePortsFile() error {
	d.mu.Lock()
	dir := d.opts.PortsFileDir
	d.mu.Unlock()
	if dir == "" {
		return nil
	}
	b, err := json.Marshal(d.portsNow())
	if err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s_%d.ports", filepath.Base(os.Args[0]), os.Getpid()))
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return fmt.Errorf("writing ports file: %w", err)
	}
	d.portsFile = name
	return nil
}
