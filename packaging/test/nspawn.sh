# nspawn.sh: boot a throw-away Debian (bookworm, or NSPAWN_SUITE=trixie) with
# systemd as PID 1 in systemd-nspawn, on a host whose PID 1 is not systemd. Source it from bash;
# run as root. It follows docs/systemd-testing.md (in the shared docs):
#
#   nspawn_host_deps             apt-get install debootstrap systemd-container, if missing
#   nspawn_template              debootstrap the template root once, cached under
#                                $NSPAWN_TEMPLATE (default .tools/nspawn/$NSPAWN_SUITE)
#   nspawn_boot NAME [ARGS...]   overlayfs copy of the template, boot it in the
#                                background, wait for is-system-running; extra ARGS
#                                go to systemd-nspawn (e.g. --bind-ro=...)
#   C CMD...                     run CMD inside the booted container (nsenter --all)
#   nspawn_cleanup               power off, unmount, remove the overlay and cgroups
#                                (nspawn_boot installs it as the EXIT trap)
#
# After nspawn_boot: $NSPAWN_PID (systemd-nspawn), $NSPAWN_LEADER (the
# container's PID 1 as a host pid) and $NSPAWN_MNT (its root, writable from
# the host). Each container has its own network namespace (--private-network:
# lo only) and parent cgroup, so several can run at once.

NSPAWN_SUITE=${NSPAWN_SUITE:-bookworm}
NSPAWN_MIRROR=${NSPAWN_MIRROR:-http://deb.debian.org/debian}
# procps: ps and pgrep for the tests. adduser: the service user. dbus: systemctl.
NSPAWN_INCLUDE=${NSPAWN_INCLUDE:-systemd,systemd-sysv,dbus,procps,adduser}
NSPAWN_TEMPLATE=${NSPAWN_TEMPLATE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools/nspawn/$NSPAWN_SUITE}
NSPAWN_TIMEOUT=${NSPAWN_TIMEOUT:-60} # seconds to boot, and to power off

NSPAWN_PID='' NSPAWN_LEADER='' NSPAWN_NAME='' NSPAWN_RUN='' NSPAWN_MNT=''

# Timing, in milliseconds, from bash's clock (no bc needed).
nspawn_now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
nspawn_fmt_ms() { printf '%d.%02ds' $(($1 / 1000)) $(($1 % 1000 / 10)); }

nspawn_log() { echo "nspawn: $*" >&2; }

nspawn_host_deps() {
	if [ "$(id -u)" != 0 ]; then
		nspawn_log "must run as root (mount, cgroups, systemd-nspawn)"
		return 1
	fi
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	command -v nsenter >/dev/null || missing+=(util-linux)
	[ ${#missing[@]} -eq 0 ] && return 0
	nspawn_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# nspawn_template builds the template root if it is missing or was built
# with other settings. It debootstraps into a temporary directory and renames
# it into place, under a lock, so an interrupted run leaves no half root and
# parallel runs build it once.
nspawn_template() {
	local stamp="suite=$NSPAWN_SUITE include=$NSPAWN_INCLUDE mirror=$NSPAWN_MIRROR variant=minbase"
	local dir; dir=$(dirname "$NSPAWN_TEMPLATE")
	mkdir -p "$dir"
	(
		flock 9
		if [ -x "$NSPAWN_TEMPLATE/usr/lib/systemd/systemd" ] &&
			[ "$(cat "$NSPAWN_TEMPLATE.stamp" 2>/dev/null)" = "$stamp" ]; then
			exit 0
		fi
		local t0 tmp; t0=$(nspawn_now_ms)
		tmp=$(mktemp -d "$NSPAWN_TEMPLATE.new.XXXXXX")
		chmod 0755 "$tmp" # it becomes the container's /
		nspawn_log "debootstrap $NSPAWN_SUITE into $NSPAWN_TEMPLATE (cached for later runs)"
		if ! debootstrap --variant=minbase --include="$NSPAWN_INCLUDE" \
			"$NSPAWN_SUITE" "$tmp" "$NSPAWN_MIRROR" >"$tmp.log" 2>&1; then
			tail -20 "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			exit 1
		fi
		rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp.log"
		echo nspawn-template >"$tmp/etc/hostname"
		rm -rf "$NSPAWN_TEMPLATE" "$NSPAWN_TEMPLATE.stamp"
		mv "$tmp" "$NSPAWN_TEMPLATE"
		echo "$stamp" >"$NSPAWN_TEMPLATE.stamp"
		nspawn_log "debootstrap took $(nspawn_fmt_ms $(($(nspawn_now_ms) - t0))), $(du -sh "$NSPAWN_TEMPLATE" | cut -f1)"
	) 9>"$dir/.lock"
}

# C runs a command inside the container, in all its namespaces, with a clean
# environment. (machinectl and systemctl -M need machined on the host.)
C() {
	nsenter --target "$NSPAWN_LEADER" --all \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

nspawn_boot() {
	NSPAWN_NAME=$1
	shift
	NSPAWN_RUN=$(mktemp -d "/tmp/nspawn-$NSPAWN_NAME.XXXXXX")
	NSPAWN_MNT=$NSPAWN_RUN/root
	trap nspawn_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$NSPAWN_RUN/upper" "$NSPAWN_RUN/work" "$NSPAWN_MNT"
	mount -t overlay overlay \
		-o "lowerdir=$NSPAWN_TEMPLATE,upperdir=$NSPAWN_RUN/upper,workdir=$NSPAWN_RUN/work" "$NSPAWN_MNT"
	echo "$NSPAWN_NAME" >"$NSPAWN_MNT/etc/hostname"
	(
		# With --keep-unit nspawn makes payload/ and supervisor/ cgroups
		# below its caller's; give each container a parent of its own.
		for h in systemd unified; do
			if [ -d "/sys/fs/cgroup/$h" ]; then
				mkdir -p "/sys/fs/cgroup/$h/nspawn-$NSPAWN_NAME"
				echo "$BASHPID" >"/sys/fs/cgroup/$h/nspawn-$NSPAWN_NAME/cgroup.procs"
			fi
		done
		# --register=no --keep-unit: the host has no system bus or machined.
		exec systemd-nspawn --boot --directory="$NSPAWN_MNT" --machine="$NSPAWN_NAME" \
			--register=no --keep-unit --private-network --console=read-only "$@" \
			</dev/null >"$NSPAWN_RUN/console.log" 2>&1
	) &
	NSPAWN_PID=$!

	# PID 1 is the child of nspawn that runs systemd (a short-lived
	# intermediate child comes first).
	local i c state=
	for ((i = 0; i < NSPAWN_TIMEOUT * 10; i++)); do
		# shellcheck disable=SC2013 # pids, one word each
		for c in $(cat /proc/"$NSPAWN_PID"/task/*/children 2>/dev/null); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && NSPAWN_LEADER=$c
		done
		[ -n "$NSPAWN_LEADER" ] && break
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$NSPAWN_LEADER" ]; then
		nspawn_log "no container PID 1"
		cat "$NSPAWN_RUN/console.log" >&2
		return 1
	fi
	# Its private bus socket appears a moment later: poll (not --wait).
	for ((i = 0; i < NSPAWN_TIMEOUT * 5; i++)); do
		state=$(C systemctl is-system-running 2>/dev/null)
		case "$state" in running | degraded | maintenance) break ;; esac
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.2
	done
	case "$state" in
	running) ;;
	degraded)
		nspawn_log "booted degraded:"
		C systemctl --failed --no-pager >&2
		;;
	*)
		nspawn_log "boot failed (is-system-running: ${state:-no answer})"
		cat "$NSPAWN_RUN/console.log" >&2
		return 1
		;;
	esac
}

nspawn_cleanup() {
	set +e
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		[ -n "$NSPAWN_LEADER" ] && C systemctl poweroff --no-block >/dev/null 2>&1
		local i
		for ((i = 0; i < NSPAWN_TIMEOUT * 10; i++)); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		# nspawn turns SIGTERM into a clean halt of the container.
		kill -0 "$NSPAWN_PID" 2>/dev/null && kill -TERM "$NSPAWN_PID"
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	if [ -n "$NSPAWN_RUN" ]; then
		mountpoint -q "$NSPAWN_MNT" && umount "$NSPAWN_MNT"
		mountpoint -q "$NSPAWN_MNT" || rm -rf "$NSPAWN_RUN"
	fi
	if [ -n "$NSPAWN_NAME" ]; then
		# nspawn leaves its (empty) cgroups behind on a non-systemd host.
		local h
		for h in systemd unified; do
			[ -d "/sys/fs/cgroup/$h/nspawn-$NSPAWN_NAME" ] &&
				find "/sys/fs/cgroup/$h/nspawn-$NSPAWN_NAME" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
	fi
	NSPAWN_PID='' NSPAWN_RUN='' NSPAWN_NAME=''
}
