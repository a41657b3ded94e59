#!/bin/bash
# systemd-test.sh: natsd under a real systemd 252, in a Debian bookworm
# container (systemd-nspawn). Run by `make systemd-test`, as root.
#
# It installs bin/natsd as /usr/bin/natsd (and bin/natsd-testhooks, the same
# natsd with its test hooks, as /usr/bin/natsd-testhooks for the watchdog
# step only), the unit files from
# packaging/systemd, a `nats` system user and packaging/test/seed.conf as
# /etc/nats/seed.conf, then runs the steps below, each from a clean state
# (every natsd unit stopped), and prints a table of results and durations.
#
# Two kinds of steps:
#   basic        work with any natsd: start, serve, reload by SIGHUP, stop.
#   integration  need natsd to speak sd_notify and take activated sockets
#                (package systemd): Type=notify readiness, reload status,
#                watchdog, socket activation, EXTEND_TIMEOUT_USEC.
#
# SD_INTEGRATION selects what must pass:
#   1 (default)  Every step runs on the unit as shipped, and all must pass.
#   0            For a natsd without the integration (before f5a51b9): the
#                basic steps run with a drop-in that makes the unit
#                Type=simple without WatchdogSec, so they work without
#                READY=1, and reloads by kill -HUP (natsd reload is newer); the integration steps then run on the unit as
#                shipped and are reported, but do not fail the run.
# STEPS="name ..." runs only the named steps (and "install").
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SD_INTEGRATION=${SD_INTEGRATION:-1}
STEPS=${STEPS:-}
NATSD_BIN=${NATSD_BIN:-$REPO/bin/natsd}
NATSD_TESTHOOKS_BIN=${NATSD_TESTHOOKS_BIN:-$REPO/bin/natsd-testhooks}
. "$HERE/nspawn.sh"

T_START=$(nspawn_now_ms)
RESULTS=() # "kind|name|result|ms|note"
FAILED=0

say() { printf '%s\n' "$*"; }
fail() { # inside a step: print why and end the step
	say "    FAIL: $*"
	exit 1
}
info() { say "    $*"; }

# ---- helpers used inside steps (they run in the step's subshell) ----------

prop() { C systemctl show -p "$2" --value "$1"; } # prop UNIT PROPERTY

# wait_for SECONDS CMD...: run CMD every 0.1s until it succeeds, for at
# most SECONDS.
wait_for() {
	local end=$(($(nspawn_now_ms) + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(nspawn_now_ms) < end)) || return 1
		sleep 0.1
	done
}
prop_is() { [ "$(prop "$1" "$2")" = "$3" ]; }      # prop_is UNIT PROPERTY VALUE
is_state() { prop_is "$1" ActiveState "$2"; }        # is_state UNIT STATE
wait_state() { wait_for "$3" is_state "$1" "$2"; }   # wait_state UNIT STATE SECONDS
not() { ! "$@"; }
# (Not `cmd | grep -q`: grep -q exits at the first match, the writer may get
# SIGPIPE, and with pipefail the pipeline then fails.)
journal() { C journalctl --no-pager -o cat -u natsd.service; }
journal_has() { [[ $(journal) == *"$1"* ]]; }
status_has() { [[ $(prop natsd.service StatusText) == *"$1"* ]]; }

# nats_ping: connect to 127.0.0.1:4222 in the container, print the INFO
# line, send CONNECT and PING, and expect PONG.
# shellcheck disable=SC2016 # the scripts run in the container
nats_ping() {
	C timeout 5 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/4222 || exit 1
		IFS= read -r info <&3 || exit 1
		printf "CONNECT {\"verbose\":false}\r\nPING\r\n" >&3
		IFS= read -r pong <&3
		printf "%s\n" "$info"
		[ "${pong%$'"'"'\r'"'"'}" = PONG ]'
}
# max_payload: the max_payload natsd announces in INFO.
max_payload() { nats_ping | sed -n 's/.*"max_payload":\([0-9]*\).*/\1/p'; }
test_max_payload() { [ "$(max_payload)" = "$1" ]; }

# http_get PATH: GET from the monitor port, print the response.
# shellcheck disable=SC2016
# ws_upgrade: the status line of a WebSocket upgrade on port 8080 (the
# websocket block of the test seed.conf, and natsd-websocket.socket).
ws_upgrade() {
	C timeout 5 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/8080 || exit 1
		printf "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" >&3
		IFS= read -r status <&3
		printf "%s\n" "${status%$'"'"'\r'"'"'}"'
}

http_get() {
	C timeout 5 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/8222 || exit 1
		printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$1" >&3
		cat <&3' _ "$1"
}

set_max_payload() { # set_max_payload 2MB
	C sed -i "s/^max_payload: .*/max_payload: $1/" /etc/nats/seed.conf
}

dropin() { # dropin NAME CONTENT: a drop-in for natsd.service, then daemon-reload
	C mkdir -p /etc/systemd/system/natsd.service.d
	printf '%s\n' "$2" >"$NSPAWN_MNT/etc/systemd/system/natsd.service.d/$1.conf"
	C systemctl daemon-reload
}
rm_dropin() {
	rm -f "$NSPAWN_MNT/etc/systemd/system/natsd.service.d/$1.conf"
	C systemctl daemon-reload
}

# start_serving: systemctl start natsd, then wait until it answers PING.
# (With Type=simple, `systemctl start` returns before natsd has even run;
# with Type=notify, at READY=1, when it must already serve.)
start_serving() {
	C timeout 30 systemctl start natsd.service || fail "systemctl start natsd"
	wait_for 5 nats_ping || fail "natsd does not answer on 127.0.0.1:4222"
}

# start_natsd: start natsd.service and wait until it is active. With
# Type=notify, `systemctl start` returns at READY=1; --no-block and polling
# keep a natsd that never sends it from costing TimeoutStartSec.
start_natsd() {
	local t0; t0=$(nspawn_now_ms)
	C systemctl start --no-block natsd.service
	if ! wait_state natsd.service active 10; then
		info "after 10s: ActiveState=$(prop natsd.service ActiveState) SubState=$(prop natsd.service SubState)"
		return 1
	fi
	info "active after $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0))) ($(prop natsd.service Type))"
}

mainpid() { prop natsd.service MainPID; }

# reset: every natsd unit stopped, failures forgotten, config restored.
reset_units() {
	C systemctl stop natsd.service natsd.socket natsd-cluster.socket natsd-monitor.socket natsd-websocket.socket >/dev/null 2>&1
	C systemctl reset-failed >/dev/null 2>&1
	install -m 0640 "$HERE/seed.conf" "$NSPAWN_MNT/etc/nats/seed.conf"
	C chown root:nats /etc/nats/seed.conf
}

diagnose() {
	say "    --- systemctl status natsd.service"
	C systemctl status --no-pager --lines=0 natsd.service 2>&1 | sed 's/^/    /'
	say "    --- journal (natsd.service, last 15 lines)"
	C journalctl --no-pager -o short-monotonic -n 15 -u natsd.service 2>&1 | sed 's/^/    /'
}

# run_step KIND NAME DESCRIPTION [NEEDS]: run step_NAME in a subshell with
# set -e; skip it if step NEEDS ran and failed.
declare -A PASSED=()
run_step() {
	local kind=$1 name=$2 desc=$3 needs=${4:-}
	if [ -n "$STEPS" ] && [[ " $STEPS " != *" $name "* ]]; then
		return
	fi
	say ""
	say "=== [$kind] $name: $desc"
	local t0 rc ms res note=
	if [ -n "$needs" ] && [ "${PASSED[$needs]-}" = 0 ]; then
		note="skipped: needs $needs"
		say "=== SKIP $name — $note"
		RESULTS+=("$kind|$name|SKIP|0|$note")
		[ "$kind" = integration ] && [ "$SD_INTEGRATION" = 1 ] && FAILED=1
		return
	fi
	t0=$(nspawn_now_ms)
	(
		set -e
		"step_$name"
	)
	rc=$?
	ms=$(($(nspawn_now_ms) - t0))
	PASSED[$name]=$((rc == 0))
	if [ $rc = 0 ]; then
		res=PASS
	else
		diagnose
		res=FAIL
		if [ "$kind" = basic ] || [ "$SD_INTEGRATION" = 1 ]; then
			FAILED=1
		else
			note="not yet required (SD_INTEGRATION=0)"
		fi
	fi
	say "=== $res $name ($(nspawn_fmt_ms $ms))${note:+ — $note}"
	RESULTS+=("$kind|$name|$res|$ms|$note")
	reset_units
}

# ---- basic steps ------------------------------------------------------------

step_verify() { # the shipped units, unchanged, at their real paths
	C systemd-analyze verify /lib/systemd/system/natsd.service /lib/systemd/system/natsd.socket \
		/lib/systemd/system/natsd-cluster.socket /lib/systemd/system/natsd-monitor.socket /lib/systemd/system/natsd-websocket.socket >"$NSPAWN_RUN/verify.out" 2>&1 ||
		{ cat "$NSPAWN_RUN/verify.out"; fail "systemd-analyze verify"; }
	[ ! -s "$NSPAWN_RUN/verify.out" ] || { cat "$NSPAWN_RUN/verify.out"; fail "systemd-analyze verify printed warnings"; }
	info "$(C systemd-analyze security --no-pager natsd.service 2>&1 | tail -1)"
}

step_start() {
	local t0 pid
	t0=$(nspawn_now_ms)
	C timeout 30 systemctl start natsd.service || fail "systemctl start natsd"
	info "systemctl start returned after $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0)))"
	wait_for 5 nats_ping || fail "natsd does not answer on 127.0.0.1:4222"
	info "serving after $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0)))"
	[ "$(C systemctl is-active natsd.service)" = active ] || fail "not active"
	pid=$(mainpid)
	info "MainPID $pid: $(C ps -o user=,group=,args= -p "$pid")"
	[ "$(C ps -o user= -p "$pid")" = nats ] || fail "not running as nats"
	C grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" || fail "has capabilities"
	C grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" || fail "NoNewPrivs not set"
	C grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status" || fail "no seccomp filter"
	info "no capabilities, NoNewPrivs, seccomp filter: as the unit says"
}

step_client() {
	start_serving
	local out
	out=$(nats_ping) || fail "no PONG from 127.0.0.1:4222"
	info "INFO: ${out:0:100}..."
	[ "$(max_payload)" = 1048576 ] || fail "max_payload $(max_payload), want 1048576 (1MB) from seed.conf"
	info "CONNECT, PING -> PONG"
}

step_monitor() {
	start_serving
	local out
	out=$(http_get /varz) || fail "GET /varz"
	[[ $out == "HTTP/1.0 200 OK"* && $out == *'"server_id"'* ]] || fail "GET /varz: ${out:0:200}"
	info "GET /varz -> 200, $(grep -o '"mem": *[0-9]*' <<<"$out")"
	[[ $(http_get /healthz) == *"200 OK"* ]] || fail "GET /healthz"
	info "GET /healthz -> 200"
}

step_reload() { # systemctl reload -> natsd reload -> new max_payload when it returns
	start_serving
	local pid; pid=$(mainpid)
	set_max_payload 2MB
	C systemctl reload natsd.service || fail "systemctl reload"
	# ExecReload=natsd reload waits for the result: applied on return
	# (by it, or by the config watcher just before).
	test_max_payload 2097152 || fail "max_payload still $(max_payload) when systemctl reload returned"
	[ "$(mainpid)" = "$pid" ] || fail "MainPID changed $pid -> $(mainpid)"
	wait_state natsd.service active 5 || fail "ActiveState $(prop natsd.service ActiveState) after reload"
	journal_has '(natsd reload)' || fail "natsd did not log the reload natsd reload asked for"
	info "max_payload 2097152 when systemctl reload returned, same MainPID, active"
}

step_reload_broken() { # a broken config keeps the old one running
	start_serving
	local pid; pid=$(mainpid)
	C sh -c 'echo "max_payload: {{{" >> /etc/nats/seed.conf'
	! C systemctl reload natsd.service 2>/dev/null || fail "systemctl reload succeeded on a broken config"
	journal_has 'Failed to reload' || fail "no 'Failed to reload' in the journal"
	info "systemctl reload failed; journal: $(journal | grep 'Failed to reload' | tail -1 | cut -c1-120)"
	wait_state natsd.service active 5 || fail "ActiveState $(prop natsd.service ActiveState)"
	[ "$(mainpid)" = "$pid" ] || fail "MainPID changed"
	nats_ping >/dev/null || fail "no PONG with the old config"
	[ "$(max_payload)" = 1048576 ] || fail "max_payload $(max_payload)"
	info "still active, same MainPID, old config still served"
}

step_stop() {
	start_serving
	local t0; t0=$(nspawn_now_ms)
	C timeout 60 systemctl stop natsd.service || fail "systemctl stop"
	info "systemctl stop returned after $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0)))"
	[ "$(prop natsd.service ActiveState)" = inactive ] || fail "ActiveState $(prop natsd.service ActiveState)"
	[ "$(prop natsd.service ExecMainStatus)" = 0 ] || fail "ExecMainStatus=$(prop natsd.service ExecMainStatus)"
	[ "$(prop natsd.service Result)" = success ] || fail "Result=$(prop natsd.service Result)"
	info "inactive, ExecMainStatus=0, Result=success"
}

step_lame_duck() { # SIGUSR2, then stop waits for the drain (SIGTERM is ignored)
	start_serving
	local t0 ms
	C systemctl kill --kill-who=main -s SIGUSR2 natsd.service
	t0=$(nspawn_now_ms)
	C timeout 60 systemctl stop natsd.service || fail "systemctl stop"
	ms=$(($(nspawn_now_ms) - t0))
	info "stop during lame duck returned after $(nspawn_fmt_ms $ms) (grace 4s, no clients)"
	((ms >= 2500)) || fail "stop did not wait for the drain"
	[ "$(prop natsd.service ExecMainStatus)" = 0 ] || fail "ExecMainStatus=$(prop natsd.service ExecMainStatus)"
	[ "$(prop natsd.service Result)" = success ] || fail "Result=$(prop natsd.service Result)"
	journal_has 'Lame duck mode done' || fail "no 'Lame duck mode done'"
}

step_restart_on_failure() { # Restart=on-failure after SIGKILL
	start_serving
	local pid; pid=$(mainpid)
	C systemctl kill --kill-who=main -s SIGKILL natsd.service
	wait_for 15 prop_is natsd.service NRestarts 1 || fail "NRestarts=$(prop natsd.service NRestarts)"
	wait_state natsd.service active 10 || fail "not active again"
	[ "$(mainpid)" != "$pid" ] || fail "same MainPID"
	wait_for 5 nats_ping || fail "no PONG after the restart"
	info "restarted (RestartSec=2s): NRestarts=1, new MainPID, serving"
}

# ---- integration steps (need natsd's sd_notify / socket activation) ---------

step_notify_ready() { # Type=notify: active only after READY=1
	[ "$(prop natsd.service Type)" = notify ] || fail "Type=$(prop natsd.service Type)"
	start_natsd || fail "not active: no READY=1"
	nats_ping >/dev/null || fail "no PONG"
	local st; st=$(prop natsd.service StatusText)
	info "StatusText: ${st:-<empty>}"
	[ -n "$st" ] || fail "no STATUS= with READY=1"
	[ "$(prop natsd.service WatchdogUSec)" = 30s ] || fail "WatchdogUSec=$(prop natsd.service WatchdogUSec)"
}

step_notify_reload() { # RELOADING=1 ... READY=1: back to active, not stuck in reloading
	start_natsd || fail "not active: no READY=1"
	local pid; pid=$(mainpid)
	set_max_payload 2MB
	C systemctl reload natsd.service || fail "systemctl reload"
	wait_for 10 test_max_payload 2097152 || fail "max_payload $(max_payload) after reload"
	# Stuck in "reloading" means RELOADING=1 without READY=1 (e.g. a
	# datagram dropped for a NUL byte).
	sleep 1
	is_state natsd.service active || fail "ActiveState $(prop natsd.service ActiveState) 1s after reload"
	[ "$(mainpid)" = "$pid" ] || fail "MainPID changed"
	info "StatusText: $(prop natsd.service StatusText)"
}
step_status_broken() { # STATUS=reload failed: ... on a broken config, cleared by a good reload
	start_natsd || fail "not active: no READY=1"
	local good st
	good=$(C cat /etc/nats/seed.conf)
	C sh -c 'echo "max_payload: {{{" >> /etc/nats/seed.conf'
	! C systemctl reload natsd.service 2>/dev/null || fail "systemctl reload succeeded on a broken config"
	wait_for 10 status_has "reload failed" || fail "StatusText '$(prop natsd.service StatusText)'"
	info "StatusText: $(prop natsd.service StatusText)"
	sleep 0.5
	is_state natsd.service active || fail "ActiveState $(prop natsd.service ActiveState) after a failed reload"
	nats_ping >/dev/null || fail "no PONG with the old config"
	printf '%s\n' "$good" >"$NSPAWN_MNT/etc/nats/seed.conf"
	set_max_payload 2MB
	C systemctl reload natsd.service || fail "systemctl reload"
	wait_for 10 test_max_payload 2097152 || fail "good config not applied"
	wait_for 5 not status_has 'reload failed' ||
		fail "StatusText still '$(prop natsd.service StatusText)' after a good reload"
	info "after a good reload: $(prop natsd.service StatusText)"
}
step_watchdog() { # WATCHDOG=1 while healthy; a wedged natsd stops pinging and is restarted
	# NATSD_TEST_WEDGE_FILE: natsd's test hook takes the server's lock for
	# good once the file exists, as a deadlock would. Only the test build
	# has the hook (the shipped natsd has none), so this step runs it.
	dropin 60-watchdog-test $'[Service]\nExecStart=\nExecStart=/usr/bin/natsd-testhooks -c /etc/nats/seed.conf\nWatchdogSec=2s\nTimeoutAbortSec=5s\nEnvironment=NATSD_TEST_WEDGE_FILE=/run/nats/wedge'
	local pid w1 w2 ok=1
	start_natsd || ok=0
	if ((ok)); then
		pid=$(mainpid)
		w1=$(prop natsd.service WatchdogTimestampMonotonic)
		sleep 4
		w2=$(prop natsd.service WatchdogTimestampMonotonic)
		info "WatchdogSec=2s: WatchdogTimestampMonotonic $w1 -> $w2 in 4s; NRestarts=$(prop natsd.service NRestarts)"
		[ "$(prop natsd.service NRestarts)" = 0 ] && [ "$(mainpid)" = "$pid" ] && [ "$w1" != "$w2" ] || ok=0
		((ok)) || info "no WATCHDOG=1 pings"
	fi
	if ((ok)); then
		C touch /run/nats/wedge
		wait_for 15 prop_is natsd.service NRestarts 1 || { ok=0; info "not restarted after wedging"; }
	fi
	if ((ok)); then
		wait_state natsd.service active 10 || { ok=0; info "not active after the restart"; }
		info "journal: $(journal | grep -E 'Health check failed|Watchdog timeout|SIGABRT' | cut -c1-150)"
		journal_has 'Watchdog timeout' || { ok=0; info "no 'Watchdog timeout' in the journal"; }
	fi
	rm_dropin 60-watchdog-test
	((ok)) || fail "watchdog"
	info "wedged natsd: health check failed, pings stopped, watchdog timeout, restarted as MainPID $(mainpid)"
}

step_socket_activation() { # a connection to the client socket starts natsd
	C systemctl start natsd.socket natsd-monitor.socket natsd-websocket.socket || fail "start sockets"
	[ "$(prop natsd.service ActiveState)" = inactive ] || fail "natsd.service already $(prop natsd.service ActiveState)"
	local t0 out pid env
	t0=$(nspawn_now_ms)
	out=$(wait_for 10 nats_ping && nats_ping) || fail "no PONG from the activated natsd"
	info "first PONG after $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0)))"
	wait_state natsd.service active 10 || fail "natsd.service $(prop natsd.service ActiveState)"
	pid=$(mainpid)
	env=$(C cat "/proc/$pid/environ" | tr '\0' '\n' | grep '^LISTEN_' | tr '\n' ' ')
	info "natsd started with: $env"
	[[ $env == *LISTEN_FDS=3* && $env == *client* && $env == *monitor* && $env == *websocket* ]] || fail "sockets not passed"
	[[ $(http_get /varz) == *"200 OK"* ]] || fail "GET /varz on the activated monitor socket"
	info "GET /varz -> 200 on the monitor socket"
	[[ $(ws_upgrade) == "HTTP/1.1 101 Switching Protocols" ]] || fail "WebSocket upgrade on the activated websocket socket: $(ws_upgrade)"
	info "WebSocket upgrade -> 101 on the websocket socket"
	# Stopping the service leaves the sockets listening: the next
	# connection starts it again.
	C systemctl stop natsd.service
	is_state natsd.socket active || fail "natsd.socket $(prop natsd.socket ActiveState) after stopping the service"
	nats_ping >/dev/null || fail "no PONG after stopping the service"
	wait_state natsd.service active 10 || fail "not activated again"
	[ "$(mainpid)" != "$pid" ] || fail "same MainPID"
	info "stopped service restarted by the next connection"
}

step_extend_timeout() { # a lame duck drain outlasting TimeoutStopSec, with KillSignal=SIGUSR2
	dropin 60-ldm-test $'[Service]\nKillSignal=SIGUSR2\nTimeoutStopSec=2s'
	start_natsd || { rm_dropin 60-ldm-test; fail "not active: no READY=1"; }
	local t0 ms res st
	t0=$(nspawn_now_ms)
	C timeout 60 systemctl stop natsd.service
	ms=$(($(nspawn_now_ms) - t0))
	res=$(prop natsd.service Result) st=$(prop natsd.service ExecMainStatus)
	rm_dropin 60-ldm-test
	info "stop (SIGUSR2: drain with 4s grace, TimeoutStopSec=2s) took $(nspawn_fmt_ms $ms): Result=$res ExecMainStatus=$st"
	if [ "$res" != success ] || [ "$st" != 0 ]; then
		fail "killed at TimeoutStopSec: no EXTEND_TIMEOUT_USEC"
	fi
	((ms >= 3000)) || fail "the drain did not last past TimeoutStopSec"
}

# ---- main -------------------------------------------------------------------

install_natsd() {
	local m=$NSPAWN_MNT
	install -D -m 0755 "$NATSD_BIN" "$m/usr/bin/natsd"
	install -D -m 0755 "$NATSD_TESTHOOKS_BIN" "$m/usr/bin/natsd-testhooks"
	install -D -m 0644 -t "$m/lib/systemd/system" "$REPO"/packaging/systemd/natsd*.service "$REPO"/packaging/systemd/natsd*.socket
	install -D -m 0640 "$HERE/seed.conf" "$m/etc/nats/seed.conf"
	C adduser --system --group --home /var/lib/nats --no-create-home --quiet nats
	C chown root:nats /etc/nats/seed.conf
	C systemctl daemon-reload
	info "$(C /usr/bin/natsd --version), units in /lib/systemd/system, user $(C id nats)"
}

main() {
	[ -x "$NATSD_BIN" ] || { say "no $NATSD_BIN: run make build"; exit 1; }
	[ -x "$NATSD_TESTHOOKS_BIN" ] || { say "no $NATSD_TESTHOOKS_BIN: run make bin/natsd-testhooks"; exit 1; }
	local t
	t=$(nspawn_now_ms)
	nspawn_host_deps || exit 1
	local t_deps=$(($(nspawn_now_ms) - t))
	t=$(nspawn_now_ms)
	nspawn_template || exit 1
	local t_tmpl=$(($(nspawn_now_ms) - t))
	t=$(nspawn_now_ms)
	nspawn_boot "natsd-test-$$" || exit 1
	local t_boot=$(($(nspawn_now_ms) - t))
	say "booted $(C systemctl --version | sed -n 1p) in $(nspawn_fmt_ms $t_boot)"

	say ""
	say "=== install"
	install_natsd || exit 1

	if [ "$SD_INTEGRATION" != 1 ]; then
		run_step basic verify "systemd-analyze verify, shipped units at their real paths"
		say ""
		say "=== SD_INTEGRATION=0: basic steps run with Type=simple and no watchdog (drop-in)"
		dropin 50-before-sd-notify $'[Service]\nType=simple\nWatchdogSec=0\nExecReload=\nExecReload=/bin/kill -HUP $MAINPID'
	else
		run_step basic verify "systemd-analyze verify, shipped units at their real paths"
	fi
	run_step basic start "systemctl start natsd returns, active, as nats, sandboxed"
	run_step basic client "a client connects: INFO, CONNECT, PING -> PONG"
	run_step basic monitor "GET /varz and /healthz on the monitor port"
	run_step basic reload "systemctl reload applies a changed max_payload, same process"
	run_step basic reload_broken "reload with a broken config keeps serving the old one"
	run_step basic stop "systemctl stop: inactive, ExecMainStatus=0"
	run_step basic lame_duck "stop during lame duck waits for the drain, exits 0"
	run_step basic restart_on_failure "Restart=on-failure after SIGKILL"
	if [ "$SD_INTEGRATION" != 1 ]; then
		rm_dropin 50-before-sd-notify
		say ""
		say "=== SD_INTEGRATION=0: integration steps run on the unit as shipped; failures are reported only"
	fi
	run_step integration notify_ready "Type=notify: active after READY=1, with STATUS="
	run_step integration notify_reload "reload: RELOADING=1 ... READY=1, back to active" notify_ready
	run_step integration status_broken "failed reload shows in StatusText, cleared by a good one" notify_ready
	run_step integration watchdog "WATCHDOG=1 while healthy; a wedged natsd is restarted" notify_ready
	run_step integration socket_activation "client, monitor and websocket sockets; a connection starts natsd"
	run_step integration extend_timeout "EXTEND_TIMEOUT_USEC: drain outlasts TimeoutStopSec" notify_ready

	t=$(nspawn_now_ms)
	nspawn_cleanup
	local t_down=$(($(nspawn_now_ms) - t))

	say ""
	say "=== results (SD_INTEGRATION=$SD_INTEGRATION)"
	printf '%-12s %-20s %-5s %8s  %s\n' kind step result time note
	local r kind name res ms note
	for r in "${RESULTS[@]}"; do
		IFS='|' read -r kind name res ms note <<<"$r"
		printf '%-12s %-20s %-5s %8s  %s\n' "$kind" "$name" "$res" "$(nspawn_fmt_ms "$ms")" "$note"
	done
	say ""
	say "host deps $(nspawn_fmt_ms $t_deps), template $(nspawn_fmt_ms $t_tmpl), boot $(nspawn_fmt_ms $t_boot), teardown $(nspawn_fmt_ms $t_down), total $(nspawn_fmt_ms $(($(nspawn_now_ms) - T_START)))"
	if [ $FAILED != 0 ]; then
		say "FAIL"
		exit 1
	fi
	say "OK"
}

main "$@"
