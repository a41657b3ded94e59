package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// flagsBase is the config file the flag cases overlay: every option a flag
// can replace is set here to something no flag uses.
const flagsBase = `
listen: 127.0.0.1:4333
server_name: file
client_advertise: "file.example.com:4333"
http_port: 8222
pid_file: /file.pid
ports_file_dir: /file-dir
log_file: /file.log
authorization {
  user: fileuser
  password: filepass
  timeout: 3
}
cluster {
  name: FILE
  listen: 127.0.0.1:4248
  advertise: "file.example.com:4248"
  connect_retries: 2
  authorization { user: fu, password: fp }
  routes: [nats-route://10.0.0.2:6222, nats-route://10.0.0.3:6222]
}
`

// set is Flags.Set for the canonical names given, as cmd/natsd records
// them (-p is "port", -a "addr", -D "debug", -V "trace", -m "http_port",
// -P "pid", -n "name", -l "log", --cluster_listen "cluster").
func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestFlagsOverlayFile loads flagsBase with flags overlaid and checks the
// rendered options (see renderValue): want maps an option path to its
// rendered value, "" meaning the option is unset.
func TestFlagsOverlayFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("base.conf", flagsBase)
	token := write("token.conf", "authorization { token: filetoken }\n")
	users := write("users.conf", "authorization { users: [ { user: a, password: b } ] }\nno_auth_user: a\n")
	routesOnly := write("routes.conf", "cluster { routes: [ nats-route://10.0.0.2:6222 ] }\n")

	cases := []struct {
		name    string
		flags   Flags // ConfigFile defaults to base
		want    map[string]string
		wantErr string
	}{
		{name: "no flags: the file's values",
			want: map[string]string{
				"Server.Host": `"127.0.0.1"`, "Server.Port": "4333", "Server.ServerName": `"file"`,
				"Cluster.Port": "4248", "Cluster.Username": `"fu"`,
				"Cluster.Routes[0]": "nats-route://10.0.0.2:6222", "Cluster.Routes[1]": "nats-route://10.0.0.3:6222",
			}},
		{name: "values without Set do not override",
			flags: Flags{Port: 9999, Host: "10.9.9.9", Debug: true, Routes: "", Cluster: ""},
			want:  map[string]string{"Server.Host": `"127.0.0.1"`, "Server.Port": "4333", "Log.Debug": "", "Cluster.Port": "4248"}},
		{name: "-p overrides listen's port, keeps its host",
			flags: Flags{Port: 5000, Set: set("port")},
			want:  map[string]string{"Server.Host": `"127.0.0.1"`, "Server.Port": "5000"}},
		{name: "-p -1",
			flags: Flags{Port: -1, Set: set("port")},
			want:  map[string]string{"Server.Port": "-1"}},
		{name: "-p out of range",
			flags:   Flags{Port: 70000, Set: set("port")},
			wantErr: "port: must be 1-65535 (or -1 for a random port), found 70000"},
		{name: "-a overrides listen's host, keeps its port",
			flags: Flags{Host: "0.0.0.0", Set: set("addr")},
			want:  map[string]string{"Server.Host": `"0.0.0.0"`, "Server.Port": "4333"}},
		{name: "-n",
			flags: Flags{ServerName: "flagname", Set: set("name")},
			want:  map[string]string{"Server.ServerName": `"flagname"`}},
		{name: "--client_advertise",
			flags: Flags{ClientAdvertise: "flag.example.com:4222", Set: set("client_advertise")},
			want:  map[string]string{"Server.ClientAdvertise": `"flag.example.com:4222"`}},
		{name: "-m",
			flags: Flags{HTTPPort: 8333, Set: set("http_port")},
			want:  map[string]string{"Monitor.Port": "8333", "Monitor.Host": `"127.0.0.1"`}},
		{name: "-P",
			flags: Flags{PidFile: "/flag.pid", Set: set("pid")},
			want:  map[string]string{"PidFile": `"/flag.pid"`}},
		{name: "--ports_file_dir",
			flags: Flags{PortsFileDir: "/flag-dir", Set: set("ports_file_dir")},
			want:  map[string]string{"PortsFileDir": `"/flag-dir"`}},
		{name: "-l",
			flags: Flags{LogFile: "/flag.log", Set: set("log")},
			want:  map[string]string{"Log.File": `"/flag.log"`}},
		{name: "-D",
			flags: Flags{Debug: true, Set: set("debug")},
			want:  map[string]string{"Log.Debug": "true", "Log.Trace": ""}},
		{name: "-V",
			flags: Flags{Trace: true, Set: set("trace")},
			want:  map[string]string{"Log.Debug": "", "Log.Trace": "true"}},
		{name: "-DV",
			flags: Flags{Debug: true, Trace: true, Set: set("debug", "trace")},
			want:  map[string]string{"Log.Debug": "true", "Log.Trace": "true", "Log.TraceVerbose": ""}},
		{name: "-VV",
			flags: Flags{Trace: true, TraceVerbose: true, Set: set("trace", "trace_verbose")},
			want:  map[string]string{"Log.Trace": "true", "Log.TraceVerbose": "true"}},
		{name: "-T=false and --logtime_utc",
			flags: Flags{Logtime: false, LogtimeUTC: true, Set: set("logtime", "logtime_utc")},
			want:  map[string]string{"Log.Logtime": "", "Log.LogtimeUTC": "true"}},
		{name: "--cluster replaces listen and credentials",
			flags: Flags{Cluster: "nats://u:p@0.0.0.0:5248", Set: set("cluster")},
			want: map[string]string{
				"Cluster.Host": `"0.0.0.0"`, "Cluster.Port": "5248",
				"Cluster.Username": `"u"`, "Cluster.Password": `"p"`,
				"Cluster.Name": `"FILE"`, "Cluster.Routes[1]": "nats-route://10.0.0.3:6222",
			}},
		{name: "--cluster without credentials drops the file's",
			flags: Flags{Cluster: "nats://10.1.1.1:5248", Set: set("cluster")},
			want:  map[string]string{"Cluster.Host": `"10.1.1.1"`, "Cluster.Port": "5248", "Cluster.Username": "", "Cluster.Password": ""}},
		{name: "--cluster port -1",
			flags: Flags{Cluster: "nats://127.0.0.1:-1", Set: set("cluster")},
			want:  map[string]string{"Cluster.Host": `"127.0.0.1"`, "Cluster.Port": "-1"}},
		{name: "--cluster password starting with -1",
			flags: Flags{Cluster: "nats://ruser:-1pw@127.0.0.1:5248", Set: set("cluster")},
			want: map[string]string{"Cluster.Host": `"127.0.0.1"`, "Cluster.Port": "5248",
				"Cluster.Username": `"ruser"`, "Cluster.Password": `"-1pw"`}},
		{name: "--cluster password starting with -1 and port -1",
			flags: Flags{Cluster: "nats://ruser:-1pw@127.0.0.1:-1", Set: set("cluster")},
			want: map[string]string{"Cluster.Host": `"127.0.0.1"`, "Cluster.Port": "-1",
				"Cluster.Username": `"ruser"`, "Cluster.Password": `"-1pw"`}},
		{name: "--cluster port -1 with a trailing slash",
			flags: Flags{Cluster: "nats://127.0.0.1:-1/", Set: set("cluster")},
			want:  map[string]string{"Cluster.Host": `"127.0.0.1"`, "Cluster.Port": "-1"}},
		{name: "--cluster user without password",
			flags:   Flags{Cluster: "nats://u@127.0.0.1:5248", Set: set("cluster")},
			wantErr: `natsd: --cluster: a user without a password is not allowed in "nats://u@127.0.0.1:5248"`},
		{name: "--cluster not a URL",
			flags:   Flags{Cluster: "127.0.0.1", Set: set("cluster")},
			wantErr: "natsd: --cluster:"},
		{name: "--cluster port out of range",
			flags:   Flags{Cluster: "nats://127.0.0.1:70000", Set: set("cluster")},
			wantErr: `natsd: --cluster: port "70000" must be -1 or 0-65535`},
		{name: "--cluster empty with --routes empty: standalone",
			flags: Flags{Cluster: "", Routes: "", Set: set("cluster", "routes")},
			want:  map[string]string{"Cluster.Host": "", "Cluster.Port": "", "Cluster.Routes[0]": ""}},
		{name: "--cluster empty leaves the file's routes without a listener",
			flags:   Flags{Cluster: "", Set: set("cluster")},
			wantErr: "cluster.routes: solicited routes require cluster capabilities"},
		{name: "--cluster gives the file's routes a listener",
			flags: Flags{ConfigFile: routesOnly, Cluster: "nats://127.0.0.1:5248", Set: set("cluster")},
			want:  map[string]string{"Cluster.Port": "5248", "Cluster.Routes[0]": "nats-route://10.0.0.2:6222"}},
		{name: "--cluster_name --cluster_advertise --no_advertise --connect_retries",
			flags: Flags{ClusterName: "FLAG", ClusterAdvertise: "flag.example.com:5248", NoAdvertise: true, ConnectRetries: 7,
				Set: set("cluster_name", "cluster_advertise", "no_advertise", "connect_retries")},
			want: map[string]string{"Cluster.Name": `"FLAG"`, "Cluster.Advertise": `"flag.example.com:5248"`,
				"Cluster.NoAdvertise": "true", "Cluster.ConnectRetries": "7"}},
		{name: "--routes replaces the file's routes",
			flags: Flags{Routes: "nats-route://10.9.9.9:6222, nats-route://10.9.9.8:6222", Set: set("routes")},
			want: map[string]string{"Cluster.Routes[0]": "nats-route://10.9.9.9:6222",
				"Cluster.Routes[1]": "nats-route://10.9.9.8:6222", "Cluster.Routes[2]": ""}},
		{name: "--routes empty clears them",
			flags: Flags{Routes: "", Set: set("routes")},
			want:  map[string]string{"Cluster.Routes[0]": "", "Cluster.Port": "4248"}},
		{name: "--routes bad URL",
			flags:   Flags{Routes: "nats-route://10.9.9.9", Set: set("routes")},
			wantErr: `natsd: --routes: route "nats-route://10.9.9.9"`},
		{name: "--user --pass replace the file's, keeping its timeout",
			flags: Flags{User: "flaguser", Pass: "flagpass", Set: set("user", "pass")},
			want: map[string]string{"Server.Auth.Username": `"flaguser"`, "Server.Auth.Password": `"flagpass"`,
				"Server.Auth.Timeout": "3s"}},
		{name: "--pass alone changes the file user's password",
			flags: Flags{Pass: "flagpass", Set: set("pass")},
			want:  map[string]string{"Server.Auth.Username": `"fileuser"`, "Server.Auth.Password": `"flagpass"`}},
		{name: "--user --pass replace the file's users and no_auth_user",
			flags: Flags{ConfigFile: users, User: "flaguser", Pass: "flagpass", Set: set("user", "pass")},
			want: map[string]string{"Server.Auth.Username": `"flaguser"`, "Server.Auth.Users[0].Username": "",
				"Server.Auth.NoAuthUser": ""}},
		{name: "--auth without a config file",
			flags: Flags{ConfigFile: "-", Token: "flagtoken", Set: set("auth")},
			want:  map[string]string{"Server.Auth.Token": `"flagtoken"`, "Server.Port": "4222"}},
		{name: "-p without a config file",
			flags: Flags{ConfigFile: "-", Port: 5000, Set: set("port")},
			want:  map[string]string{"Server.Host": `"0.0.0.0"`, "Server.Port": "5000", "ConfigFile": ""}},
		{name: "--auth replaces the file's users and no_auth_user",
			flags: Flags{ConfigFile: users, Token: "flagtoken", Set: set("auth")},
			want: map[string]string{"Server.Auth.Token": `"flagtoken"`, "Server.Auth.Users[0].Username": "",
				"Server.Auth.NoAuthUser": ""}},
		{name: "--user --pass replace the file's token",
			flags: Flags{ConfigFile: token, User: "flaguser", Pass: "flagpass", Set: set("user", "pass")},
			want: map[string]string{"Server.Auth.Username": `"flaguser"`, "Server.Auth.Password": `"flagpass"`,
				"Server.Auth.Token": ""}},
		{name: "--auth replaces the file's user and password",
			flags: Flags{Token: "flagtoken", Set: set("auth")},
			want: map[string]string{"Server.Auth.Token": `"flagtoken"`, "Server.Auth.Username": "",
				"Server.Auth.Password": "", "Server.Auth.Timeout": "3s"}},
		{name: "the file's token stays when no auth flag is given",
			flags: Flags{ConfigFile: token, Port: 5000, Set: set("port")},
			want:  map[string]string{"Server.Auth.Token": `"filetoken"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			switch f.ConfigFile {
			case "":
				f.ConfigFile = base
			case "-":
				f.ConfigFile = ""
			}
			o, diag, err := Load(&f)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Load succeeded; want an error containing %q", tc.wantErr)
				}
				if !strings.Contains(allErrors(diag, err), tc.wantErr) || diag == nil || len(diag.Errors) != 1 {
					t.Fatalf("errors:\n%s\nwant just one, containing %q", allErrors(diag, err), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %s", allErrors(diag, err))
			}
			got := renderMap(o)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// renderMap is renderValue as a map from option path to rendered value.
func renderMap(o *Options) map[string]string {
	var b strings.Builder
	renderValue(&b, "", reflect.ValueOf(*o))
	m := map[string]string{}
	for line := range strings.Lines(b.String()) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		m[k] = v
	}
	return m
}

func allErrors(diag *Diagnostics, err error) string {
	if diag == nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range diag.Errors {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}
