#!/bin/bash
# check-packages.sh: check the built .deb and .rpm without installing them
# (make packages runs it after building both). Installs lintian and rpm with
# apt-get when they are missing (root).
#
#   seed        packaging/seed.conf passes `go run ./cmd/natsd -t`, and the
#               packaged seed.conf passes the packaged natsd's -t
#   version     the packages' version and the packaged `natsd --version`
#   deb-files   dpkg-deb -c: the expected files, modes and owners
#   deb-control Depends, conffiles, maintainer scripts
#   lintian     no error and no warning (overrides and info tags are shown)
#   rpm-files   rpm -qpl: the expected files; %config(noreplace) root:nats 0640
#   rpm-scripts rpm -qp --scripts: sysusers/useradd in %pre, tmpfiles and
#               preset in %post, disable --now in %preun, try-restart in
#               %postun; no userdel
#   same-files  the .deb and the .rpm hold the same files, modulo the unit
#               directory and the .deb's changelog and lintian overrides
#   copyright   every Go module in the binary has a stanza in copyright
#
# Environment: VERSION (required), DIST (default dist), GO (default go).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
: "${VERSION:?VERSION is not set (make packages sets it)}"
DIST=${DIST:-dist}
GO=${GO:-go}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
fmt_ms() { printf '%d.%02ds' $(($1 / 1000)) $(($1 % 1000 / 10)); }
T0=$(now_ms)

shopt -s nullglob
debs=("$DIST/natsd_${VERSION}_"*.deb)
rpms=("$DIST/natsd-${VERSION}-1."*.rpm)
[ ${#debs[@]} = 1 ] || { echo "check-packages: want one $DIST/natsd_${VERSION}_*.deb, found ${#debs[@]}"; exit 1; }
[ ${#rpms[@]} = 1 ] || { echo "check-packages: want one $DIST/natsd-${VERSION}-1.*.rpm, found ${#rpms[@]}"; exit 1; }
DEB=${debs[0]} RPM=${rpms[0]}
WORK=$(mktemp -d /tmp/natsd-check-packages.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Host tools, only when missing (rpm brings rpm2cpio).
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v rpm >/dev/null || need+=(rpm)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
	t=$(now_ms)
	echo "check-packages: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"; } >"$WORK/apt.log" 2>&1 ||
		{ tail -20 "$WORK/apt.log"; exit 1; }
	echo "check-packages: installed ${need[*]} in $(fmt_ms $(($(now_ms) - t)))"
fi

PASSED=0 FAILED=0
RESULTS=()
check() { # check NAME: runs check_NAME in a subshell with set -e
	local name=$1 t rc
	t=$(now_ms)
	echo "=== $name"
	(
		set -e
		"check_$name"
	)
	rc=$?
	t=$(($(now_ms) - t))
	if [ $rc = 0 ]; then
		PASSED=$((PASSED + 1))
		RESULTS+=("PASS $name $(fmt_ms $t)")
	else
		FAILED=$((FAILED + 1))
		RESULTS+=("FAIL $name $(fmt_ms $t)")
		echo "=== FAIL $name"
	fi
}
fail() { echo "    FAIL: $*"; exit 1; }
info() { echo "    $*"; }
# same WANT_FILE GOT_FILE WHAT: diff or pass
same() { diff -u "$1" "$2" | sed 's/^/    /' && [ "${PIPESTATUS[0]}" = 0 ] || fail "$3 differs (-want +got)"; }

# The files both packages hold, modulo the unit directory (UNITDIR).
files_common() {
	printf '%s\n' /etc/nats/seed.conf /usr/bin/natsd \
		"$1"/natsd.service "$1"/natsd.socket "$1"/natsd-cluster.socket "$1"/natsd-monitor.socket "$1"/natsd-websocket.socket \
		/usr/lib/sysusers.d/natsd.conf /usr/lib/tmpfiles.d/natsd.conf \
		/usr/share/doc/natsd/README.md /usr/share/doc/natsd/copyright \
		/usr/share/man/man8/natsd.8.gz
}
# deb_files: "mode owner path" of the .deb's regular files, sorted by path.
deb_files() { dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $2, $6 }' | sort -k3; }
rpm_files() { rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILEFLAGS:fflags}. %{FILENAMES}\n]' "$RPM" | sort -k4; }

dpkg-deb -x "$DEB" "$WORK/deb"
dpkg-deb -e "$DEB" "$WORK/deb-control"

check_seed() {
	"$GO" run ./cmd/natsd -t -c packaging/seed.conf
	"$WORK/deb/usr/bin/natsd" -t -c "$WORK/deb/etc/nats/seed.conf" | sed 's/^/    packaged: /'
	[ "${PIPESTATUS[0]}" = 0 ] || fail "the packaged seed.conf does not pass the packaged natsd -t"
	# Each commented example, uncommented, loads too.
	local S=packaging/seed.conf
	sed -n '/^# cluster {/,/^# }/p' "$S" | sed 's/^# \{0,1\}//' >"$WORK/cluster.conf"
	sed -n '/^# websocket {/,/^# }/p' "$S" | sed 's/^# \{0,1\}//' >"$WORK/websocket.conf"
	awk '/^# authorization \{/ { n++ } n == 1' "$S" | sed -n '1,/^# }/p' | sed 's/^# \{0,1\}//' >"$WORK/auth1.conf"
	awk '/^# authorization \{/ { n++ } n == 2' "$S" | sed -n '1,/^# }/p' | sed 's/^# \{0,1\}//' >"$WORK/auth2.conf"
	sed -n '/^# jetstream {/,/^# }/p' "$S" | sed 's/^# \{0,1\}//' >"$WORK/jetstream.conf"
	grep -E '^# (server_name|max_|ping_|write_|lame_|log_file|logtime|debug|trace)' "$S" | sed 's/^# //' >"$WORK/settings.conf"
	# JetStream stays off as shipped; its example keeps the store in the
	# unit's StateDirectory.
	! grep -q '^jetstream' "$S" || fail "$S turns JetStream on"
	local state
	state=$(sed -n 's/^StateDirectory=//p' packaging/systemd/natsd.service)
	grep -q -x "  store_dir: /var/lib/$state" "$WORK/jetstream.conf" || fail "the jetstream example's store_dir is not /var/lib/$state (StateDirectory=$state)"
	local f
	for f in cluster websocket auth1 auth2 jetstream settings; do
		[ -s "$WORK/$f.conf" ] || fail "no $f example found in $S"
		"$WORK/deb/usr/bin/natsd" -t -c "$WORK/$f.conf" >/dev/null || fail "the $f example of $S does not load"
	done
	info "the commented examples (cluster, websocket, 2 x authorization, jetstream, settings) load when uncommented"
}

check_version() {
	local v
	v=$(dpkg-deb -f "$DEB" Version)
	info "deb Version: $v"
	[ "$v" = "$VERSION" ] || fail "deb Version $v, want $VERSION"
	v=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$RPM")
	info "rpm Version-Release: $v"
	[ "$v" = "$VERSION-1" ] || fail "rpm $v, want $VERSION-1"
	v=$("$WORK/deb/usr/bin/natsd" --version)
	info "packaged natsd --version: $v"
	[ "$v" = "natsd: v$VERSION" ] || fail "natsd --version: $v"
	dpkg --compare-versions "$VERSION" lt "$VERSION+upgrade" || fail "dpkg: $VERSION+upgrade is not newer"
	[ "$(rpm --eval "%{lua: print(rpm.vercmp('$VERSION', '$VERSION+upgrade'))}")" = -1 ] || fail "rpm: $VERSION+upgrade is not newer"
}

check_deb_files() {
	{
		files_common /lib/systemd/system
		printf '%s\n' /usr/share/doc/natsd/changelog.gz /usr/share/lintian/overrides/natsd
	} | sort >"$WORK/want"
	deb_files | awk '{ print $3 }' >"$WORK/got"
	same "$WORK/want" "$WORK/got" "the .deb's file list"
	deb_files | sed 's/^/    /'
	# Modes: 0755 natsd, 0644 the rest (seed.conf too: postinst makes it
	# root:nats 0640 once the group exists); everything root-owned.
	deb_files | awk '$2 != "root/root" { print "    owner: " $0; bad = 1 }
		$3 == "/usr/bin/natsd" && $1 != "-rwxr-xr-x" { print "    mode: " $0; bad = 1 }
		$3 != "/usr/bin/natsd" && $1 != "-rw-r--r--" { print "    mode: " $0; bad = 1 }
		END { exit bad }' || fail "modes or owners"
}

check_deb_control() {
	local c="$WORK/deb-control"
	[ "$(dpkg-deb -f "$DEB" Depends)" = "adduser" ] || fail "Depends: $(dpkg-deb -f "$DEB" Depends)"
	[ "$(cat "$c/conffiles")" = /etc/nats/seed.conf ] || fail "conffiles: $(cat "$c/conffiles")"
	info "Depends: adduser; conffiles: /etc/nats/seed.conf"
	local s
	for s in postinst prerm postrm; do
		[ -x "$c/$s" ] || fail "no $s"
		sh -n "$c/$s" || fail "$s: syntax"
	done
	[ ! -e "$c/preinst" ] || fail "unexpected preinst"
	grep -q 'adduser --system --group --home /var/lib/nats --no-create-home --quiet nats' "$c/postinst" || fail "postinst: no adduser"
	grep -q 'deb-systemd-helper enable "$SERVICE"' "$c/postinst" || fail "postinst: no enable"
	grep -q 'deb-systemd-invoke $_dh_action "$SERVICE"' "$c/postinst" || fail "postinst: no start/restart"
	grep -q 'deb-systemd-invoke stop natsd.socket natsd-cluster.socket natsd-monitor.socket natsd-websocket.socket natsd.service' "$c/prerm" || fail "prerm: no stop"
	grep -q 'deluser --quiet --system nats' "$c/postrm" || fail "postrm: no deluser"
	info "postinst: adduser, enable, start/restart; prerm: stop; postrm: deluser on purge"
}

check_lintian() {
	# Exit status 2 is --fail-on's; with --show-overrides an overridden
	# error counts too, so the E:/W: lines decide (O: is overridden).
	local rc=0
	lintian --fail-on error,warning --display-info --show-overrides "$DEB" >"$WORK/lintian.out" 2>&1 || rc=$?
	grep -v 'running with root privileges is not recommended' "$WORK/lintian.out" | sed 's/^/    /'
	[ $rc = 0 ] || [ $rc = 2 ] || fail "lintian failed (rc $rc)"
	! grep -q '^[EW]: ' "$WORK/lintian.out" || fail "lintian: errors or warnings"
	info "lintian $(lintian --version | awk '{ print $2 }'): no errors, no warnings"
}

check_rpm_files() {
	files_common /usr/lib/systemd/system | sort >"$WORK/want"
	rpm -qpl "$RPM" | grep -v -x -e /etc/nats -e /usr/share/doc/natsd >"$WORK/got"
	same "$WORK/want" "$WORK/got" "rpm -qpl (without its directories)"
	rpm_files | sed 's/^/    /'
	[ "$(rpm -qpc "$RPM")" = /etc/nats/seed.conf ] || fail "rpm -qpc: $(rpm -qpc "$RPM")"
	rpm_files | grep -q -x -- '-rw-r----- root/nats cn\. /etc/nats/seed.conf' || fail "seed.conf is not %config(noreplace) %attr(0640,root,nats)"
	rpm_files | grep -q -x -- 'drwxr-xr-x root/root \. /etc/nats' || fail "the package does not own /etc/nats"
	[ "$(rpm -qpR "$RPM" | grep -v '^rpmlib(')" = systemd ] || fail "Requires: $(rpm -qpR "$RPM" | tr '\n' ' ')"
	info "seed.conf %config(noreplace) root:nats 0640; Requires: systemd"
}

check_rpm_scripts() {
	rpm -qp --scripts "$RPM" >"$WORK/scripts"
	# One section per scriptlet: "preinstall scriptlet (using /bin/sh):".
	awk '/^[a-z]+ scriptlet \(using/ { f = $1 } f { print > ("'"$WORK"'/s." f) }' "$WORK/scripts"
	local s
	for s in preinstall postinstall preuninstall postuninstall; do
		[ -s "$WORK/s.$s" ] || fail "no $s scriptlet"
		sed 1d "$WORK/s.$s" | sh -n || fail "$s: syntax"
	done
	# %pre: the sysusers.d line, identical to the packaged file's.
	local line
	line=$(grep -v '^#' packaging/sysusers.conf)
	grep -q -x -F -- "$line" "$WORK/s.preinstall" || fail "%pre's sysusers line differs from packaging/sysusers.conf ($line)"
	grep -q 'systemd-sysusers --replace=/usr/lib/sysusers.d/natsd.conf -' "$WORK/s.preinstall" || fail "%pre: no systemd-sysusers"
	grep -q 'useradd -r -g nats -d /var/lib/nats' "$WORK/s.preinstall" || fail "%pre: no useradd fallback"
	grep -q 'systemd-tmpfiles --create natsd.conf' "$WORK/s.postinstall" || fail "%post: no tmpfiles"
	grep -q 'systemctl --no-reload preset natsd.service' "$WORK/s.postinstall" || fail "%post: no preset"
	grep -q 'systemctl --no-reload disable --now natsd.service' "$WORK/s.preuninstall" || fail "%preun: no disable --now"
	grep -q 'systemctl try-restart natsd.service' "$WORK/s.postuninstall" || fail "%postun: no try-restart"
	! grep -E -q 'userdel|groupdel' "$WORK/scripts" || fail "an RPM scriptlet deletes a user"
	info "%pre: systemd-sysusers (line = packaging/sysusers.conf) or useradd; %post: tmpfiles, preset;"
	info "%preun: disable --now on erase; %postun: try-restart on upgrade; no userdel"
}

check_same_files() {
	deb_files | awk '{ print $3 }' | sed 's,^/lib/systemd/system/,/usr/lib/systemd/system/,' |
		grep -v -x -e /usr/share/doc/natsd/changelog.gz -e /usr/share/lintian/overrides/natsd | sort >"$WORK/deb.list"
	rpm -qpl "$RPM" | grep -v -x -e /etc/nats -e /usr/share/doc/natsd | sort >"$WORK/rpm.list"
	same "$WORK/deb.list" "$WORK/rpm.list" "deb vs rpm"
	# Same content too, except the seed.conf mode (see nfpm.yaml).
	mkdir -p "$WORK/rpm"
	# --no-absolute-filenames: the payload's names start with / (GNU cpio
	# would write them into the host's root).
	# rpm2cpio (4.18) exits 1: it compares the bytes it copied with the
	# header's ARCHIVESIZE, which nfpm (rpmpack) sets to something else. The
	# payload digest is checked by rpm -K below, the bytes by cmp.
	rpm -K --quiet "$RPM" || fail "rpm -K: bad digests"
	rpm2cpio "$RPM" >"$WORK/rpm.cpio" || [ -s "$WORK/rpm.cpio" ] || fail rpm2cpio
	(cd "$WORK/rpm" && cpio -idm --quiet --no-absolute-filenames <"$WORK/rpm.cpio" 2>/dev/null) || fail cpio
	local f
	while read -r f; do
		local d=${f/#\/usr\/lib\/systemd\/system/\/lib\/systemd\/system}
		cmp -s "$WORK/rpm$f" "$WORK/deb$d" || fail "$f differs between the .rpm and the .deb"
	done <"$WORK/rpm.list"
	info "$(wc -l <"$WORK/rpm.list") files, same paths (unit directory aside) and same bytes"
}

check_copyright() {
	local m deps
	# A module's major-version suffix (/v22) is not a directory of its code.
	deps=$("$GO" version -m "$WORK/deb/usr/bin/natsd" | awk '$1 == "dep" { sub(/\/v[0-9]+$/, "", $2); print $2 }')
	for m in $deps; do
		grep -q "^Files:.* vendor/$m/\*" packaging/copyright || fail "packaging/copyright has no stanza for $m"
		info "$m"
	done
	# And no stanza for a module the binary no longer links.
	for m in $(grep '^Files:' packaging/copyright | grep -o 'vendor/[^ ]*/\*' | sed 's|^vendor/||; s|/\*$||'); do
		grep -qx "$m" <<<"$deps" || fail "packaging/copyright has a stanza for $m, which the binary does not link"
	done
}

check seed
check version
check deb_files
check deb_control
check lintian
check rpm_files
check rpm_scripts
check same_files
check copyright

echo
echo "=== check-packages: $DEB, $RPM"
printf '    %s\n' "${RESULTS[@]}"
echo "    total $(fmt_ms $(($(now_ms) - T0)))"
echo "check-packages: $PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
