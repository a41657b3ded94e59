#!/bin/bash
# build-package.sh deb|rpm: build the natsd .deb or .rpm with nfpm
# (packaging/nfpm.yaml), from the Makefile (make deb, make rpm, make packages).
#
# Environment:
#   VERSION         the package version (required; the Makefile's VERSION,
#                   from packaging/version.sh)
#   NATSD_BIN       the binary to package (default bin/natsd); its
#                   `--version` must print "natsd: v$VERSION"
#   DIST            the output directory (default dist)
#   SEED_CONF       the /etc/nats/seed.conf to ship (default packaging/seed.conf;
#                   make package-test's newer build ships a changed one)
#   PKG_MAINTAINER  the Maintainer/Packager field
#   SOURCE_DATE_EPOCH  build time in the packages, the man page and the
#                   changelog (default: the commit time of HEAD)
#   GO              the go command (default go)
#
# Before building it checks that the binary is the one for VERSION and that
# the seed.conf passes `natsd -t`; it removes older natsd packages of the same
# kind from DIST. Prints the package's path.
set -euo pipefail

pkg=${1:?usage: build-package.sh deb|rpm}
case $pkg in deb | rpm) ;; *) echo "build-package.sh: deb or rpm, not $pkg" >&2; exit 2 ;; esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
: "${VERSION:?VERSION is not set (make deb sets it from packaging/version.sh)}"
NATSD_BIN=${NATSD_BIN:-bin/natsd}
SEED_CONF=${SEED_CONF:-packaging/seed.conf}
DIST=${DIST:-dist}
GO=${GO:-go}
PKG_MAINTAINER=${PKG_MAINTAINER:-natsd maintainers <maintainers@users.noreply.r-seed-f6f70cf2.example>}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

die() { echo "build-package.sh: $*" >&2; exit 1; }

# The binary must be the one this version names: the package version and
# `natsd --version` are the same string.
got=$("$NATSD_BIN" --version) || die "$NATSD_BIN --version failed"
[ "$got" = "natsd: v$VERSION" ] || die "$NATSD_BIN says '$got', the package is $VERSION: rebuild it (make build VERSION=$VERSION)"

# The shipped config must load.
"$NATSD_BIN" -t -c "$SEED_CONF" >/dev/null || die "$SEED_CONF does not pass natsd -t"

# Generated files: the man page with the date and version filled in, and
# (deb) the changelog of a native package. gzip -n: no name or time stamp.
stage=$(mktemp -d "${TMPDIR:-/tmp}/natsd-$pkg-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
date_ymd=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
sed "s/^\\.TH NATSD 8 \"\" \"natsd\"/.TH NATSD 8 \"$date_ymd\" \"natsd $VERSION\"/" packaging/man/natsd.8 >"$stage/natsd.8"
grep -q "^\\.TH NATSD 8 \"$date_ymd\"" "$stage/natsd.8" || die "packaging/man/natsd.8: no '.TH NATSD 8 \"\" \"natsd\"' line to fill in"
gzip -9n "$stage/natsd.8"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
cat >"$stage/changelog" <<EOF
natsd ($VERSION) unstable; urgency=medium

  * Built from git commit $commit of https://github.com/natsd/natsd;
    the changes are in its history.

 -- $PKG_MAINTAINER  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n "$stage/changelog"

# dist/ holds one build: older packages would make `apt install ./dist/natsd_*.deb`
# pick up several versions.
mkdir -p "$DIST"
case $pkg in
deb) rm -f "$DIST"/natsd_*.deb ;;
rpm) rm -f "$DIST"/natsd-*.rpm ;;
esac
arch=$("$GO" env GOARCH)
out=$(NATSD_VERSION=$VERSION NATSD_ARCH=$arch NATSD_BIN=$NATSD_BIN NATSD_STAGE=$stage \
	NATSD_SEED_CONF=$SEED_CONF NATSD_MAINTAINER=$PKG_MAINTAINER \
	"$GO" tool nfpm package --config packaging/nfpm.yaml --packager "$pkg" --target "$DIST/" 2>&1) ||
	{ echo "$out" >&2; die "nfpm failed"; }
file=$(sed -n 's/.*created package: //p' <<<"$out")
[ -f "$file" ] || { echo "$out" >&2; die "nfpm did not say which package it made"; }
echo "$file"
