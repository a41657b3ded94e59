package daemon

import (
	"os"
	"strings"
	"time"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/jetstream"
)

// JetStreamOptions are the jetstream {} block, -js and -sd.
type JetStreamOptions struct {
	Enabled  bool
	StoreDir string // "": $STATE_DIRECTORY under systemd, else the temporary directory
	// MaxMemory and MaxStore are the server's totals (0: computed).
	MaxMemory int64
	MaxStore  int64
	Domain    string
	// SyncInterval 0 is natsd's default, "always": a publish is
	// acknowledged once fsynced. nats-server's default is 2m.
	SyncInterval time.Duration
	UniqueTag    string
	// Tags are the top-level server_tags (lower case): clustered
	// JetStream places replicas by them (a stream's placement.tags).
	Tags []string
	// Accounts are the accounts with JetStream and their limits, by
	// account name ($G when no accounts are configured).
	Accounts map[string]jetstream.AccountLimits
}

// jetstreamBlock reads the top-level jetstream key: a block, a boolean, or
// "enabled"/"disabled", with nats-server's checks (recorded: -t verdicts of
// nats-server v2.15.2).
func (b *builder) jetstreamBlock(e *confparse.Entry, o *Options) {
	js := &o.JetStream
	switch e.Value.Kind {
	case confparse.Bool:
		js.Enabled = e.Value.Bool
		return
	case confparse.String:
		switch strings.ToLower(e.Value.Str) {
		case "enabled", "enable", "true", "yes", "on":
			js.Enabled = true
		case "disabled", "disable", "false", "no", "off":
			js.Enabled = false
		default:
			b.errorf(e.Value.Pos, "jetstream", "expected \"enabled\" or \"disabled\", found %q", e.Value.Str)
		}
		return
	case confparse.Map:
	default:
		b.wrongType(e, "jetstream", "a jetstream block, a boolean or \"enabled\"/\"disabled\"")
		return
	}
	js.Enabled = true
	for _, je := range e.Value.Entries {
		key := strings.ToLower(je.Key)
		path := "jetstream." + key
		b.pos[path] = je.KeyPos
		switch key {
		case "store_dir", "store", "storedir":
			js.StoreDir, _ = b.str(je, path)
		case "max_memory_store", "max_mem_store", "max_mem":
			v, _ := b.integer(je, path, -1, 1<<62)
			js.MaxMemory = max(v, 0)
		case "max_file_store", "max_file":
			v, _ := b.integer(je, path, -1, 1<<62)
			js.MaxStore = max(v, 0)
		case "domain":
			if v, ok := b.str(je, path); ok {
				if strings.ContainsAny(v, " \t.*>") {
					b.errorf(je.Value.Pos, path, "invalid domain name %q: it may not contain '.', '*', '>' or spaces", v)
				}
				js.Domain = v
			}
		case "sync_interval", "sync":
			if je.Value.Kind == confparse.String && strings.EqualFold(je.Value.Str, "always") {
				js.SyncInterval = 0
				continue
			}
			if d, ok := b.duration(je, path); ok {
				js.SyncInterval = d
			}
		case "unique_tag":
			js.UniqueTag, _ = b.str(je, path)
		case "enabled", "enable":
			if v, ok := b.boolean(je, path); ok {
				js.Enabled = v
			}
		case "strict", "max_buffered_msgs", "max_buffered_size", "request_queue_limit", "compress_ok", "cipher", "key", "prev_key", "max_outstanding_catchup", "limits", "tpm", "max_ack_pending", "max_catchup":
			b.warnf(je.KeyPos, path, "natsd does not use this JetStream setting; ignored")
		default:
			b.errorf(je.KeyPos, path, "unknown field %q", je.Key)
		}
	}
}

// accountJetStream reads an account's jetstream key: "enabled" (no limits),
// "disabled", or a block of limits.
func (b *builder) accountJetStream(e *confparse.Entry, path, account string, o *Options) {
	unlimited := jetstream.UnlimitedAccount(account).Limits
	set := func(l jetstream.AccountLimits) {
		if o.JetStream.Accounts == nil {
			o.JetStream.Accounts = map[string]jetstream.AccountLimits{}
		}
		o.JetStream.Accounts[account] = l
	}
	switch e.Value.Kind {
	case confparse.Bool:
		if e.Value.Bool {
			set(unlimited)
		}
		return
	case confparse.String:
		switch strings.ToLower(e.Value.Str) {
		case "enabled", "enable", "true", "yes", "on":
			set(unlimited)
		case "disabled", "disable", "false", "no", "off":
		default:
			b.errorf(e.Value.Pos, path, "expected \"enabled\" or \"disabled\", found %q", e.Value.Str)
		}
		return
	case confparse.Map:
	default:
		b.wrongType(e, path, "a jetstream block, a boolean or \"enabled\"/\"disabled\"")
		return
	}
	l := unlimited
	for _, je := range e.Value.Entries {
		key := strings.ToLower(je.Key)
		kp := path + "." + key
		num := func() int64 {
			v, ok := b.integer(je, kp, -1, 1<<62)
			if !ok || v == 0 {
				return -1
			}
			return v
		}
		switch key {
		case "max_memory", "max_mem", "mem", "memory":
			l.MaxMemory = num()
		case "max_store", "max_file", "max_disk", "store", "disk":
			l.MaxStore = num()
		case "max_streams", "streams":
			l.MaxStreams = int(num())
		case "max_consumers", "consumers":
			l.MaxConsumers = int(num())
		case "max_ack_pending":
			l.MaxAckPending = int(num())
		case "max_bytes_required", "max_bytes":
			if v, ok := b.boolean(je, kp); ok {
				l.MaxBytesRequired = v
			}
		case "mem_max_stream_bytes", "memory_max_stream_bytes":
			l.MemoryMaxStreamBytes = num()
		case "disk_max_stream_bytes", "store_max_stream_bytes":
			l.StoreMaxStreamBytes = num()
		default:
			b.errorf(je.KeyPos, kp, "unknown field %q", je.Key)
		}
	}
	set(l)
}

// finishJetStream settles who has JetStream once the whole file is read:
// with no accounts configured the global account has it; otherwise only
// the accounts that say so (nats-server's rule, recorded).
func (o *Options) finishJetStream() {
	js := &o.JetStream
	if !js.Enabled {
		return
	}
	if js.StoreDir == "" {
		if d := os.Getenv("STATE_DIRECTORY"); d != "" {
			// Under systemd the unit's StateDirectory= holds the store.
			js.StoreDir = strings.Split(d, ":")[0]
		}
	}
	if len(js.Accounts) > 0 {
		return
	}
	for _, a := range o.Server.Accounts {
		if a.Name != "$G" {
			return // accounts without jetstream: none has it
		}
	}
	js.Accounts = map[string]jetstream.AccountLimits{"$G": jetstream.UnlimitedAccount("$G").Limits}
}

// jetstreamInCluster checks what clustered JetStream needs, with
// nats-server's words (recorded from v2.15.2, where the first two are
// config errors and the last a fatal error at start): a server_name, a
// cluster name, and routes (the meta group's and the streams' Raft
// messages travel over them, in the system account).
func (b *builder) jetstreamInCluster(o *Options) {
	if !o.JetStream.Enabled || !o.Cluster.Enabled() {
		return
	}
	switch {
	case o.Server.ServerName == "":
		b.errorf(b.at("jetstream"), "jetstream", "jetstream cluster requires `server_name` to be set")
	case o.Cluster.Name == "":
		b.errorf(b.at("cluster"), "cluster", "jetstream cluster requires `cluster.name` to be set")
	case len(o.Cluster.Routes) == 0:
		b.errorf(b.at("cluster"), "cluster", "JetStream cluster requires configured routes for the system account")
	}
}

// jetstreamConfig is the engine's configuration.
func (o *Options) jetstreamConfig() jetstream.Config {
	js := o.JetStream
	return jetstream.Config{StoreDir: js.StoreDir, MaxMemory: js.MaxMemory, MaxStore: js.MaxStore,
		Domain: js.Domain, SyncInterval: js.SyncInterval, UniqueTag: js.UniqueTag}
}

// jetstreamAccounts are the accounts to enable, for the engine.
func (o *Options) jetstreamAccounts() []jetstream.AccountConfig {
	var out []jetstream.AccountConfig
	for name, l := range o.JetStream.Accounts {
		out = append(out, jetstream.AccountConfig{Name: name, Limits: l})
	}
	return out
}
