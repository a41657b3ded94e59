#!/bin/bash
# package-test.sh: the natsd .deb and .rpm installed for real, in a Debian
# container booted with systemd (nspawn.sh): bookworm (systemd 252) by
# default, NSPAWN_SUITE=trixie for Debian 13 (systemd 257). Run by
# `make package-test`, on both, as root, after `make packages` and a second,
# newer build of both packages (same code, version +upgrade, a changed
# seed.conf).
#
# Steps, in order; after a failure the rest are skipped (each needs the state
# the one before left):
#   install          dpkg -i: natsd -t passes the installed seed.conf; enabled,
#                    active; the nats user; file owners and modes
#   runs_as_nats     MainPID's /proc/PID/status Uid and Gid are nats's
#   client           CONNECT/PING -> PONG on 4222, /healthz on 127.0.0.1:8222
#   reload_on_save   an edit of /etc/nats/seed.conf applies, same process
#   reload_reports   (watcher off) systemctl reload returns once a good edit
#                    is applied; on a broken seed.conf it fails, and the
#                    journal shows seed.conf:LINE:COL
#   journal_priority journalctl -u natsd -p warning shows natsd's warnings and
#                    errors, not its info lines
#   socket_enable    the enable and disable procedures documented in
#                    natsd.socket, run as written while natsd runs
#   notify_reload    (systemd >= 253) the notify-reload drop-in: reload waits
#                    for natsd's READY=1; without a config file too
#   upgrade          dpkg --force-confdef --force-confold -i the newer .deb:
#                    the edited seed.conf stays (new one as .dpkg-dist), natsd
#                    restarted (new MainPID, new version, still the edit)
#   keep_disabled    an upgrade leaves a disabled natsd disabled and stopped
#   remove           dpkg -r: stopped, conffile and user kept
#   purge            dpkg --purge: config, directories, user and group gone
#   rpm_install      rpm --root <the container's root> -i --nodeps (scripts
#                    run chrooted from the host): same files as the .deb
#                    (modulo the unit directory), user from %pre, then natsd
#                    started under the container's systemd as nats
#   rpm_upgrade      rpm -U the newer .rpm: the edited seed.conf stays (new one
#                    as .rpmnew); %postun, run in the container, restarts natsd
#   rpm_erase        %preun (in the container) stops and disables; rpm -e:
#                    edited config saved as .rpmsave, user kept
#   shared_user      a nats user made by another package (Debian's
#                    nats-server: home /nonexistent): natsd runs as it, and
#                    dpkg --purge leaves it
#
# Environment: VERSION, UPGRADE_VERSION (required), DIST (dist),
# UPGRADE_DIST (dist/upgrade).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
. "$HERE/nspawn.sh"
: "${VERSION:?}" "${UPGRADE_VERSION:?}"
DIST=${DIST:-dist}
UPGRADE_DIST=${UPGRADE_DIST:-$DIST/upgrade}
T_START=$(nspawn_now_ms)

say() { printf '%s\n' "$*"; }
one() { # one GLOB: the one file it names
	local f=("$@")
	[ ${#f[@]} = 1 ] && [ -f "${f[0]}" ] || { say "package-test: want one $*, found ${#f[@]} (run make packages)"; exit 1; }
	echo "${f[0]}"
}
DEB1=$(one "$DIST/natsd_${VERSION}_"*.deb) || exit 1
DEB2=$(one "$UPGRADE_DIST/natsd_${UPGRADE_VERSION}_"*.deb) || exit 1
RPM1=$(one "$DIST/natsd-${VERSION}-1."*.rpm) || exit 1
RPM2=$(one "$UPGRADE_DIST/natsd-${UPGRADE_VERSION}-1."*.rpm) || exit 1

# ---- helpers (used inside steps) ---------------------------------------------
fail() { say "    FAIL: $*"; exit 1; }
info() { say "    $*"; }
prop() { C systemctl show -p "$2" --value "$1"; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds (every 0.1s)
	local end=$(($(nspawn_now_ms) + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(nspawn_now_ms) < end)) || return 1
		sleep 0.1
	done
}
is_active() { [ "$(prop natsd.service ActiveState)" = active ]; }
mainpid() { prop natsd.service MainPID; }
# nats_info: connect to 127.0.0.1:4222, print INFO, send CONNECT {} and
# PING, fail without PONG. (CONNECT {} leaves verbose at its default, true,
# as in nats-server: +OK comes first.)
# shellcheck disable=SC2016 # the script runs in the container
nats_info() {
	C timeout 5 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/4222 || exit 1
		IFS= read -r info <&3 || exit 1
		printf "CONNECT {}\r\nPING\r\n" >&3
		IFS= read -r line <&3 || exit 1
		[ "${line%$'"'"'\r'"'"'}" = +OK ] && { IFS= read -r line <&3 || exit 1; }
		printf "%s\n" "$info"
		[ "${line%$'"'"'\r'"'"'}" = PONG ]'
}
info_field() { nats_info | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"]*\).*/\1/p"; } # info_field NAME
max_payload_is() { [ "$(info_field max_payload)" = "$1" ]; }
# http_status PATH: the status line of GET PATH on 127.0.0.1:8222.
# shellcheck disable=SC2016
http_status() {
	C timeout 5 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/8222 || exit 1
		printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$1" >&3
		IFS= read -r status <&3; printf "%s\n" "${status%$'"'"'\r'"'"'}"' _ "$1"
}
# runs_as PID USER: every Uid and Gid of PID are USER's.
runs_as() {
	local pid=$1 user=$2 uid gid
	uid=$(C id -u "$user") gid=$(C id -g "$user")
	local st
	st=$(C cat "/proc/$pid/status") || fail "no process $pid"
	info "$(grep -E '^(Name|Uid|Gid):' <<<"$st" | tr '\t\n' '  ')"
	[[ $(grep '^Uid:' <<<"$st") =~ ^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid$ ]] || fail "Uid is not $uid ($user)"
	[[ $(grep '^Gid:' <<<"$st") =~ ^Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid$ ]] || fail "Gid is not $gid ($user)"
	[ "$(C ps -o user= -p "$pid")" = "$user" ] || fail "ps: not $user"
}
stat_is() { # stat_is PATH "OWNER GROUP MODE"
	local got
	got=$(C stat -c '%U %G %a' "$1") || fail "no $1"
	[ "$got" = "$2" ] || fail "$1 is $got, want $2"
}
dpkg_status() { C dpkg-query -W -f '${db:Status-Abbrev}${Version}' natsd 2>/dev/null || true; }
# dpkg_i ARGS...: dpkg in the container, its output indented.
dpkg_do() {
	local out rc=0
	out=$(C dpkg "$@" 2>&1) || rc=$?
	[ -z "$out" ] || sed 's/^/    | /' <<<"$out"
	return $rc
}
# rpm_do ARGS...: the host's rpm on the container's root (scriptlets run
# chrooted there, outside the container's namespaces). With a /proc, as
# image builders (mock) give it: systemd-tmpfiles refuses to run without.
rpm_do() {
	local out rc=0
	mount -t proc proc "$NSPAWN_MNT/proc" || return 1
	out=$(rpm --root "$NSPAWN_MNT" "$@" 2>&1) || rc=$?
	umount "$NSPAWN_MNT/proc"
	[ -z "$out" ] || sed 's/^/    | /' <<<"$out" | grep -v -e 'RPM should not be used directly' -e 'assuming you know what you are doing'
	return $rc
}
# rpm_script PACKAGE TAG: the text of one scriptlet (PREUN, POSTUN, ...).
rpm_script() { rpm -qp --qf "%{$2}" "$1"; }
edit_conf() { # append a line to the installed seed.conf, as an admin would
	printf '\n# edited by package-test\n%s\n' "$1" >>"$NSPAWN_MNT/etc/nats/seed.conf"
}
# journal_since CURSOR_FILE [ARGS...]: natsd.service's journal after the
# cursor saved in CURSOR_FILE (journal_mark), message text only.
journal_mark() { C journalctl --no-pager -n 1 --show-cursor -o cat -u natsd.service | sed -n 's/^-- cursor: //p' >"$1"; }
journal_since() {
	local f=$1
	shift
	C journalctl --no-pager -o cat --after-cursor="$(cat "$f")" -u natsd.service "$@"
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
restart_natsd() {
	# The steps restart more often than StartLimitBurst= allows in a minute.
	C systemctl reset-failed natsd.service 2>/dev/null
	C timeout 30 systemctl restart natsd.service || fail "systemctl restart natsd"
	wait_for 10 nats_info || fail "no PONG after the restart"
}
units_state() {
	local u out=
	for u in natsd.service natsd.socket natsd-cluster.socket natsd-monitor.socket natsd-websocket.socket; do
		out+="$u=$(C systemctl is-enabled "$u" 2>/dev/null)/$(prop "$u" ActiveState) "
	done
	echo "$out"
}

# ---- steps ----------------------------------------------------------------------
step_install() {
	dpkg_do -i /root/art/v1.deb || fail "dpkg -i"
	local st
	st=$(dpkg_status)
	info "dpkg: $st"
	[ "$st" = "ii $VERSION" ] || fail "status '$st'"
	[ "$(C natsd --version)" = "natsd: v$VERSION" ] || fail "natsd --version: $(C natsd --version)"
	info "$(C natsd -t -c /etc/nats/seed.conf)" # FILE: OK
	wait_for 10 is_active || fail "natsd.service $(prop natsd.service ActiveState)"
	info "units: $(units_state)"
	[ "$(C systemctl is-enabled natsd.service)" = enabled ] || fail "natsd.service not enabled"
	local u
	for u in natsd.socket natsd-cluster.socket natsd-monitor.socket natsd-websocket.socket; do
		[ "$(C systemctl is-enabled "$u")" = disabled ] || fail "$u $(C systemctl is-enabled "$u"), want disabled"
		[ "$(prop "$u" ActiveState)" = inactive ] || fail "$u $(prop "$u" ActiveState)"
	done
	local pw
	pw=$(C getent passwd nats) || fail "no user nats"
	info "passwd: $pw; group: $(C getent group nats)"
	[[ $pw == nats:x:*:*:*:/var/lib/nats:/usr/sbin/nologin ]] || fail "passwd entry"
	stat_is /etc/nats/seed.conf "root nats 640"
	stat_is /var/lib/nats "nats nats 755"
	stat_is /var/log/nats "nats nats 755"
	C test -s /usr/share/man/man8/natsd.8.gz || fail "no man page"
	C test -s /usr/share/doc/natsd/copyright || fail "no copyright"
	[ "$(C dpkg-query -W -f '${Conffiles}' natsd | awk 'NF { print $1 }')" = /etc/nats/seed.conf ] || fail "conffiles"
	info "seed.conf root:nats 0640 (conffile); /var/lib/nats, /var/log/nats nats:nats"
	C dpkg-query -L natsd >"$NSPAWN_RUN/deb.list"
}

step_runs_as_nats() {
	local pid
	pid=$(mainpid)
	[ "$pid" -gt 0 ] || fail "MainPID $pid"
	info "MainPID $pid: $(C ps -o user=,args= -p "$pid")"
	runs_as "$pid" nats
}

step_client() {
	local inf
	inf=$(nats_info) || fail "no PONG on 127.0.0.1:4222"
	info "INFO: $(cut -c1-110 <<<"$inf")..."
	info "CONNECT {} PING -> +OK PONG"
	local st
	st=$(http_status /healthz)
	info "GET /healthz on 127.0.0.1:8222: $st"
	[[ $st == *" 200 "* ]] || fail "/healthz: $st"
}

step_reload_on_save() {
	local pid
	pid=$(mainpid)
	max_payload_is 1048576 || fail "max_payload $(info_field max_payload) before the edit"
	edit_conf 'max_payload: 2MB'
	wait_for 10 max_payload_is 2097152 || fail "the edit was not applied (max_payload $(info_field max_payload))"
	[ "$(mainpid)" = "$pid" ] || fail "MainPID changed"
	info "max_payload 1048576 -> 2097152 on save, same MainPID $pid"
}


# The seed.conf the upgrade step expects back (after reload_on_save).
save_conf() { cp -p "$NSPAWN_MNT/etc/nats/seed.conf" "$NSPAWN_RUN/seed.conf.saved"; }
restore_conf() { cp -p "$NSPAWN_RUN/seed.conf.saved" "$NSPAWN_MNT/etc/nats/seed.conf"; }

step_reload_reports() {
	save_conf
	# The watcher off, so that only systemctl reload can apply the edit.
	dropin nowatch $'[Service]\nExecStart=\nExecStart=/usr/bin/natsd -c /etc/nats/seed.conf --no_config_watch'
	restart_natsd
	local pid out rc
	pid=$(mainpid)
	edit_conf 'max_payload: 3MB'
	out=$(C timeout 60 systemctl reload natsd.service 2>&1) || fail "systemctl reload of a good seed.conf: $out"
	max_payload_is 3145728 || fail "systemctl reload returned before the change was applied (max_payload $(info_field max_payload))"
	info "good seed.conf: systemctl reload exits 0, max_payload 3145728 when it returns, MainPID $pid"

	journal_mark "$NSPAWN_RUN/cursor"
	printf 'max_payload: [\n' >>"$NSPAWN_MNT/etc/nats/seed.conf"
	local line; line=$(wc -l <"$NSPAWN_MNT/etc/nats/seed.conf")
	rc=0
	out=$(C timeout 60 systemctl reload natsd.service 2>&1) || rc=$?
	info "broken seed.conf: systemctl reload exits $rc: $out"
	[ $rc != 0 ] || fail "systemctl reload succeeded on a broken seed.conf"
	local j; j=$(journal_since "$NSPAWN_RUN/cursor")
	sed 's/^/    | /' <<<"$j"
	[[ $j == *"/etc/nats/seed.conf:$((line + 1)):1: "* ]] || fail "the journal does not show /etc/nats/seed.conf:$((line + 1)):1"
	[ "$(prop natsd.service ActiveState)" = active ] || fail "natsd.service $(prop natsd.service ActiveState) after the failed reload"
	[ "$(mainpid)" = "$pid" ] || fail "MainPID changed"
	max_payload_is 3145728 || fail "the running config changed"
	info "the journal shows /etc/nats/seed.conf:$((line + 1)):1; natsd serves the old config"
	restore_conf
	rm_dropin nowatch
	restart_natsd
	max_payload_is 2097152 || fail "not back to the edited seed.conf"
}

step_journal_priority() {
	journal_mark "$NSPAWN_RUN/cursor"
	# A warning (an unknown key) and an error (a broken value), each after
	# info lines (Reloaded: ...).
	edit_conf $'max_payload: 3MB\nno_such_option: 1'
	wait_for 10 max_payload_is 3145728 || fail "the edit was not applied"
	edit_conf 'max_payload: -5'
	wait_for 10 journal_has_since "Failed to reload server configuration" || fail "no failed reload in the journal"
	local all warn
	all=$(journal_since "$NSPAWN_RUN/cursor")
	warn=$(journal_since "$NSPAWN_RUN/cursor" -p warning)
	info "journalctl -u natsd -p warning:"
	sed 's/^/    | /' <<<"$warn"
	[[ $all == *"[INF] Reloaded: max_payload"* ]] || fail "no info line in the journal at all"
	[[ $warn == *"[WRN] "*"no_such_option: unknown field"* ]] || fail "-p warning lacks the warning"
	[[ $warn == *"[ERR] Failed to reload server configuration"* ]] || fail "-p warning lacks the error"
	[[ $warn != *"[INF]"* ]] || fail "-p warning shows info lines"
	local prio
	prio=$(C journalctl --no-pager -o verbose --after-cursor="$(cat "$NSPAWN_RUN/cursor")" -u natsd.service -g 'no_such_option' | sed -n 's/^ *PRIORITY=//p' | head -1)
	[ "$prio" = 4 ] || fail "the warning has PRIORITY=$prio, want 4"
	info "[WRN] has PRIORITY=4, [ERR] is shown, no [INF] line"
	restore_conf
	C timeout 60 systemctl reload natsd.service || fail "reload back"
	max_payload_is 2097152 || fail "not back to the edited seed.conf"
}
journal_has_since() { [[ $(journal_since "$NSPAWN_RUN/cursor") == *"$1"* ]]; }

# socket_commands SECTION: the commands natsd.socket documents under
# "# SECTION (", one per "#   systemctl ..." line, comments stripped.
socket_commands() {
	awk -v s="# $1 (" 'index($0, s) == 1 { on = 1; next }
		on && /^#   systemctl / { sub(/^#   /, ""); sub(/ *#.*/, ""); print; next }
		on && !/^#   / && !/^#  *[a-z]/ { on = 0 }' "$REPO/packaging/systemd/natsd.socket"
}
step_socket_enable() {
	local pid1 pid2 cmd cmds
	pid1=$(mainpid)
	# What the procedure avoids: starting the socket while natsd runs.
	local out
	if out=$(C timeout 30 systemctl start natsd.socket 2>&1); then
		info "systemctl start natsd.socket while natsd runs: accepted here"
		C systemctl stop natsd.socket
	else
		info "systemctl start natsd.socket while natsd runs fails: $(C journalctl --no-pager -o cat -n 3 -u natsd.socket | grep -m1 -i refusing)"
	fi
	mapfile -t cmds < <(socket_commands Enable)
	[ ${#cmds[@]} -ge 2 ] || fail "no Enable procedure found in natsd.socket"
	journal_mark "$NSPAWN_RUN/cursor"
	for cmd in "${cmds[@]}"; do
		info "\$ $cmd"
		# shellcheck disable=SC2086 # the documented words
		C timeout 60 $cmd 2>&1 | sed 's/^/    | /'
		[ "${PIPESTATUS[0]}" = 0 ] || fail "$cmd"
	done
	wait_for 10 nats_info || fail "no PONG"
	pid2=$(mainpid)
	[ "$(prop natsd.socket ActiveState)" = active ] || fail "natsd.socket $(prop natsd.socket ActiveState)"
	[ "$(C systemctl is-enabled natsd.socket)" = enabled ] || fail "natsd.socket not enabled"
	journal_has_since "Using the client listener from systemd socket activation" || fail "natsd did not take the socket"
	info "natsd.socket enabled and active, natsd (MainPID $pid1 -> $pid2) serves the activated socket"
	mapfile -t cmds < <(socket_commands Disable)
	[ ${#cmds[@]} -ge 2 ] || fail "no Disable procedure found in natsd.socket"
	journal_mark "$NSPAWN_RUN/cursor"
	for cmd in "${cmds[@]}"; do
		info "\$ $cmd"
		# shellcheck disable=SC2086
		C timeout 60 $cmd 2>&1 | sed 's/^/    | /'
		[ "${PIPESTATUS[0]}" = 0 ] || fail "$cmd"
	done
	wait_for 10 nats_info || fail "no PONG"
	[ "$(prop natsd.socket ActiveState)" = inactive ] || fail "natsd.socket $(prop natsd.socket ActiveState)"
	[ "$(C systemctl is-enabled natsd.socket)" = disabled ] || fail "natsd.socket still enabled"
	! journal_has_since "from systemd socket activation" || fail "natsd still takes a socket"
	info "disabled: natsd binds 4222 itself again"
}

step_notify_reload() {
	local v
	v=$(C systemctl --version | sed -n 's/^systemd \([0-9]*\).*/\1/p')
	if [ "$v" -lt 253 ]; then
		info "systemd $v has no Type=notify-reload: the shipped Type=notify unit only"
		return 0
	fi
	save_conf
	C mkdir -p /etc/systemd/system/natsd.service.d
	cp "$REPO/packaging/systemd/natsd.service.d/notify-reload.conf" "$NSPAWN_MNT/etc/systemd/system/natsd.service.d/"
	dropin nowatch $'[Service]\nExecStart=\nExecStart=/usr/bin/natsd -c /etc/nats/seed.conf --no_config_watch'
	restart_natsd
	[ "$(prop natsd.service Type)" = notify-reload ] || fail "Type=$(prop natsd.service Type)"
	edit_conf 'max_payload: 3MB'
	C timeout 60 systemctl reload natsd.service || fail "systemctl reload"
	max_payload_is 3145728 || fail "systemctl reload returned before the change was applied"
	info "Type=notify-reload: systemctl reload returns with max_payload 3145728 applied"
	# Nothing changed: still answered.
	C timeout 20 systemctl reload natsd.service || fail "systemctl reload with nothing changed did not return"
	# Without a config file: natsd answers, and says why nothing happened.
	dropin nowatch $'[Service]\nExecStart=\nExecStart=/usr/bin/natsd -a 127.0.0.1 -p 4222'
	restart_natsd
	C timeout 20 systemctl reload natsd.service || fail "systemctl reload without a config file did not return"
	local st; st=$(prop natsd.service StatusText)
	info "without -c: systemctl reload returns; StatusText: $st"
	[[ $st == *"no config file to reload"* ]] || fail "StatusText does not say there is no file to reload"
	[ "$(prop natsd.service ActiveState)" = active ] || fail "$(prop natsd.service ActiveState)"
	rm -f "$NSPAWN_MNT/etc/systemd/system/natsd.service.d/notify-reload.conf"
	rm_dropin nowatch
	restore_conf
	restart_natsd
	max_payload_is 2097152 || fail "not back to the edited seed.conf"
}

step_upgrade() {
	local pid1 pid2
	pid1=$(mainpid)
	dpkg_do --force-confdef --force-confold -i /root/art/v2.deb || fail "dpkg -i the newer package"
	local st
	st=$(dpkg_status)
	info "dpkg: $st"
	[ "$st" = "ii $UPGRADE_VERSION" ] || fail "status '$st'"
	wait_for 10 is_active || fail "natsd.service $(prop natsd.service ActiveState) after the upgrade"
	pid2=$(mainpid)
	info "MainPID $pid1 -> $pid2, $(prop natsd.service ActiveState)"
	[ "$pid2" != "$pid1" ] || fail "not restarted"
	local v
	v=$(info_field natsd_version)
	info "INFO natsd_version: $v"
	[ "$v" = "$UPGRADE_VERSION" ] || fail "the running natsd is $v"
	C grep -q -x 'max_payload: 2MB' /etc/nats/seed.conf || fail "the edit is gone from seed.conf"
	C grep -q 'package-test: the seed.conf of a newer package' /etc/nats/seed.conf.dpkg-dist ||
		fail "no seed.conf.dpkg-dist with the new default"
	max_payload_is 2097152 || fail "the restarted natsd does not run the edited config"
	stat_is /etc/nats/seed.conf "root nats 640"
	info "seed.conf kept (max_payload 2MB in effect), new default in seed.conf.dpkg-dist"
}

step_keep_disabled() {
	C systemctl disable --now natsd.service 2>/dev/null || fail "disable --now"
	dpkg_do --force-confdef --force-confold -i /root/art/v2.deb || fail "dpkg -i (reinstall)"
	sleep 0.3
	info "after reinstalling: $(units_state)"
	[ "$(C systemctl is-enabled natsd.service)" = disabled ] || fail "enabled again"
	[ "$(prop natsd.service ActiveState)" = inactive ] || fail "started again"
	C systemctl enable --now natsd.service 2>/dev/null || fail "enable --now"
	wait_for 10 is_active || fail "not active after enable --now"
}

step_remove() {
	is_active || fail "not running before dpkg -r"
	dpkg_do -r natsd || fail "dpkg -r"
	local st
	st=$(dpkg_status)
	info "dpkg: $st; natsd.service $(prop natsd.service ActiveState) ($(prop natsd.service LoadState))"
	[ "$st" = "rc $UPGRADE_VERSION" ] || fail "status '$st'"
	[ "$(prop natsd.service ActiveState)" = inactive ] || fail "natsd.service still $(prop natsd.service ActiveState)"
	! C pgrep -x natsd >/dev/null || fail "a natsd process is left"
	C test ! -e /usr/bin/natsd || fail "/usr/bin/natsd is still there"
	C grep -q -x 'max_payload: 2MB' /etc/nats/seed.conf || fail "the edited seed.conf is gone"
	C getent passwd nats >/dev/null || fail "user nats removed on remove"
	info "stopped; /etc/nats/seed.conf (edited) and user nats kept"
}

step_purge() {
	dpkg_do --purge natsd || fail "dpkg --purge"
	local st
	st=$(dpkg_status)
	info "dpkg: ${st:-(not known)}"
	[ -z "$st" ] || [[ $st == un* ]] || fail "status '$st'"
	C test ! -e /etc/nats || fail "/etc/nats is left: $(C ls -A /etc/nats)"
	! C getent passwd nats >/dev/null || fail "user nats is left"
	! C getent group nats >/dev/null || fail "group nats is left"
	C test ! -e /var/lib/nats || fail "/var/lib/nats is left"
	C test ! -e /var/log/nats || fail "/var/log/nats is left"
	local left
	left=$(C find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name 'natsd*' 2>/dev/null || true)
	[ -z "$left" ] || fail "systemd state left: $left"
	info "/etc/nats, /var/lib/nats, /var/log/nats, user and group nats, unit links: gone"
}

step_rpm_install() {
	rpm_do --initdb || fail "rpm --initdb"
	rpm_do -i --nodeps "$NSPAWN_MNT/root/art/v1.rpm" || fail "rpm -i"
	local v
	v=$(rpm --root "$NSPAWN_MNT" -q --qf '%{VERSION}-%{RELEASE}' natsd) || fail "rpm -q"
	info "rpm -q natsd: $v"
	[ "$v" = "$VERSION-1" ] || fail "version $v"
	# The same files as the .deb installed, modulo the unit directory and
	# the .deb's changelog and lintian overrides (directories aside).
	C sh -c 'while read -r f; do [ -d "$f" ] || echo "$f"; done' <"$NSPAWN_RUN/deb.list" |
		sed 's,^/lib/systemd/system/,/usr/lib/systemd/system/,' |
		grep -v -x -e /usr/share/doc/natsd/changelog.gz -e /usr/share/lintian/overrides/natsd | sort >"$NSPAWN_RUN/deb.files"
	rpm --root "$NSPAWN_MNT" -ql natsd | grep -v -x -e /etc/nats -e /usr/share/doc/natsd | sort >"$NSPAWN_RUN/rpm.files"
	diff -u "$NSPAWN_RUN/deb.files" "$NSPAWN_RUN/rpm.files" | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ] || fail "the installed files differ (-deb +rpm)"
	info "$(wc -l <"$NSPAWN_RUN/rpm.files") files, the same as the .deb's (unit directory aside)"
	local pw
	pw=$(C getent passwd nats) || fail "%pre made no user nats"
	info "passwd (from %pre, systemd-sysusers): $pw"
	[[ $pw == 'nats:x:'*':natsd NATS server:/var/lib/nats:'* ]] || fail "passwd entry"
	stat_is /etc/nats/seed.conf "root nats 640"
	stat_is /var/lib/nats "nats nats 755"
	C systemctl daemon-reload
	info "after %post (preset, chrooted): natsd.service $(C systemctl is-enabled natsd.service)"
	C timeout 30 systemctl start natsd.service || fail "systemctl start natsd"
	wait_for 10 is_active || fail "natsd.service $(prop natsd.service ActiveState)"
	runs_as "$(mainpid)" nats
	nats_info >/dev/null || fail "no PONG"
	info "started: active, as nats, PONG"
}

step_rpm_upgrade() {
	edit_conf 'max_payload: 2MB'
	wait_for 10 max_payload_is 2097152 || fail "the edit was not applied"
	local pid1 pid2 postun
	pid1=$(mainpid)
	postun=$(rpm_script "$RPM1" POSTUN) # the old package's, as rpm runs it
	rpm_do -U --nodeps "$NSPAWN_MNT/root/art/v2.rpm" || fail "rpm -U"
	local v
	v=$(rpm --root "$NSPAWN_MNT" -q --qf '%{VERSION}-%{RELEASE}' natsd)
	info "rpm -q natsd: $v"
	[ "$v" = "$UPGRADE_VERSION-1" ] || fail "version $v"
	C grep -q -x 'max_payload: 2MB' /etc/nats/seed.conf || fail "the edit is gone from seed.conf"
	C grep -q 'package-test: the seed.conf of a newer package' /etc/nats/seed.conf.rpmnew || fail "no seed.conf.rpmnew"
	info "seed.conf kept, new default in seed.conf.rpmnew"
	# The scriptlets ran chrooted, where systemctl cannot reach the
	# container's systemd: run the old %postun (upgrade: \$1 = 1) in it.
	C sh -c "$postun" postun 1 || fail "%postun"
	wait_for 10 is_active || fail "not active after %postun"
	pid2=$(mainpid)
	info "%postun 1 in the container: MainPID $pid1 -> $pid2, natsd_version $(info_field natsd_version)"
	[ "$pid2" != "$pid1" ] || fail "not restarted"
	[ "$(info_field natsd_version)" = "$UPGRADE_VERSION" ] || fail "not the new natsd"
	max_payload_is 2097152 || fail "not the edited config"
}

step_rpm_erase() {
	local preun
	preun=$(rpm_script "$RPM2" PREUN)
	C sh -c "$preun" preun 0 || fail "%preun"
	info "%preun 0 in the container: $(units_state)"
	[ "$(prop natsd.service ActiveState)" = inactive ] || fail "still $(prop natsd.service ActiveState)"
	[ "$(C systemctl is-enabled natsd.service)" = disabled ] || fail "still enabled"
	rpm_do -e natsd || fail "rpm -e"
	C test ! -e /usr/bin/natsd || fail "/usr/bin/natsd left"
	C grep -q -x 'max_payload: 2MB' /etc/nats/seed.conf.rpmsave || fail "no seed.conf.rpmsave with the edit"
	C getent passwd nats >/dev/null || fail "user nats deleted"
	info "rpm -e: files gone, edited config saved as seed.conf.rpmsave, user nats kept"
}

step_shared_user() {
	# A nats user that is not natsd's, as Debian's nats-server package makes
	# it (home /nonexistent): natsd runs as it, and a purge leaves it alone.
	C userdel nats 2>/dev/null || true
	C groupdel nats 2>/dev/null || true
	C adduser --system --group --home /nonexistent --no-create-home --quiet nats || fail "adduser"
	local before
	before=$(C getent passwd nats)
	dpkg_do -i /root/art/v1.deb || fail "dpkg -i"
	wait_for 10 is_active || fail "natsd.service $(prop natsd.service ActiveState)"
	runs_as "$(mainpid)" nats
	dpkg_do --purge natsd || fail "dpkg --purge"
	[ "$(C getent passwd nats)" = "$before" ] || fail "the other package's user nats was changed or deleted"
	C getent group nats >/dev/null || fail "group nats deleted"
	info "natsd ran as the existing user ($before); the purge kept it"
}

# ---- main -------------------------------------------------------------------------
RESULTS=() PASSED=0 FAILED=0 SKIPPED=0 BROKEN= SD_VERSION=
run_step() { # run_step NAME DESCRIPTION
	local name=$1 t rc ms
	say ""
	say "=== $name: $2"
	if [ -n "$BROKEN" ]; then
		say "=== SKIP $name (after $BROKEN failed)"
		RESULTS+=("$name|SKIP|0")
		SKIPPED=$((SKIPPED + 1))
		return
	fi
	t=$(nspawn_now_ms)
	(
		set -e
		"step_$name"
	)
	rc=$?
	ms=$(($(nspawn_now_ms) - t))
	if [ $rc = 0 ]; then
		RESULTS+=("$name|PASS|$ms")
		PASSED=$((PASSED + 1))
		say "=== PASS $name ($(nspawn_fmt_ms $ms))"
	else
		RESULTS+=("$name|FAIL|$ms")
		FAILED=$((FAILED + 1))
		BROKEN=$name
		say "    --- journal (natsd.service, last 15 lines)"
		C journalctl --no-pager -o short-monotonic -n 15 -u natsd.service 2>&1 | sed 's/^/    /'
		say "=== FAIL $name ($(nspawn_fmt_ms $ms))"
	fi
}

main() {
	local t t_deps t_tmpl t_boot t_down
	say "package-test ($NSPAWN_SUITE): $DEB1 -> $DEB2, $RPM1 -> $RPM2"
	t=$(nspawn_now_ms)
	nspawn_host_deps || exit 1
	command -v rpm >/dev/null || {
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rpm >/dev/null
	} || exit 1
	t_deps=$(($(nspawn_now_ms) - t))
	t=$(nspawn_now_ms)
	nspawn_template || exit 1
	t_tmpl=$(($(nspawn_now_ms) - t))
	t=$(nspawn_now_ms)
	nspawn_boot "natsd-pkg-$$" || exit 1
	t_boot=$(($(nspawn_now_ms) - t))
	SD_VERSION=$(C systemctl --version | sed -n 1p | cut -d' ' -f1-2)
	say "booted $(C systemctl --version | sed -n 1p) in $(nspawn_fmt_ms $t_boot)"
	mkdir -p "$NSPAWN_MNT/root/art"
	cp "$DEB1" "$NSPAWN_MNT/root/art/v1.deb"
	cp "$DEB2" "$NSPAWN_MNT/root/art/v2.deb"
	cp "$RPM1" "$NSPAWN_MNT/root/art/v1.rpm"
	cp "$RPM2" "$NSPAWN_MNT/root/art/v2.rpm"

	run_step install "dpkg -i: enabled and active, user nats, owners and modes"
	run_step runs_as_nats "natsd runs as nats (MainPID, /proc/PID/status)"
	run_step client "a client connects: CONNECT, PING -> PONG; /healthz"
	run_step reload_on_save "an edit of /etc/nats/seed.conf applies on save"
	run_step reload_reports "systemctl reload: returns once applied, fails on a broken seed.conf"
	run_step journal_priority "journalctl -u natsd -p warning: warnings, no info lines"
	run_step socket_enable "natsd.socket's enable and disable procedures, as documented"
	run_step notify_reload "Type=notify-reload drop-in (systemd >= 253)"
	run_step upgrade "dpkg --force-confdef --force-confold -i the newer .deb"
	run_step keep_disabled "an upgrade keeps a disabled natsd disabled"
	run_step remove "dpkg -r: stopped, conffile kept"
	run_step purge "dpkg --purge: config, directories, user gone"
	run_step rpm_install "rpm --root -i --nodeps (with scripts): same files, starts as nats"
	run_step rpm_upgrade "rpm -U the newer .rpm: %config(noreplace), restart"
	run_step rpm_erase "%preun stops, rpm -e: .rpmsave, user kept"
	run_step shared_user "a nats user of another package: used, and kept on purge"

	t=$(nspawn_now_ms)
	nspawn_cleanup
	t_down=$(($(nspawn_now_ms) - t))

	say ""
	say "=== results"
	local r name res ms
	for r in "${RESULTS[@]}"; do
		IFS='|' read -r name res ms <<<"$r"
		printf '    %-17s %-4s %8s\n' "$name" "$res" "$(nspawn_fmt_ms "$ms")"
	done
	say "    host deps $(nspawn_fmt_ms $t_deps), template $(nspawn_fmt_ms $t_tmpl), boot $(nspawn_fmt_ms $t_boot), teardown $(nspawn_fmt_ms $t_down), total $(nspawn_fmt_ms $(($(nspawn_now_ms) - T_START)))"
	say "package-test ($NSPAWN_SUITE, $SD_VERSION): $PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ $FAILED = 0 ] && [ $SKIPPED = 0 ]
}

main "$@"
