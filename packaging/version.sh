#!/bin/sh
# version.sh: natsd's version, from git, in a form that is valid as a Debian
# and an RPM version and that sorts right in both (dpkg --compare-versions,
# rpmvercmp). The Makefile computes it once (VERSION) and uses it for the
# binary (natsd --version prints "natsd: v<VERSION>") and the packages.
#
#   no tag yet               0.1.0~git<N>.<sha>     N = commits in HEAD
#   on tag vX.Y.Z            X.Y.Z
#   N commits after vX.Y.Z   X.Y.Z+git<N>.<sha>     N = commits since the tag
#   uncommitted changes      ...+dirty
#
# '~' sorts before the empty string in both dpkg and rpm, so 0.1.0~git... <
# 0.1.0 (the first tag); N grows along a branch, so a later commit sorts
# higher; the sha only tells commits apart. A tag vX.Y.Z-rc1 becomes
# X.Y.Z~rc1 (before X.Y.Z). See docs/packaging.md.
set -eu
cd "$(dirname "$0")/.."
if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo 0.0.0~unknown # not a git checkout
	exit 0
fi
sha=$(git rev-parse --short=8 HEAD)
dirty=
case $(git describe --tags --always --dirty) in *-dirty) dirty=+dirty ;; esac
if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
	n=$(git rev-list --count "$tag..HEAD")
	base=$(echo "${tag#v}" | tr -- - '~')
	if [ "$n" = 0 ]; then
		echo "$base$dirty"
	else
		echo "$base+git$n.$sha$dirty"
	fi
else
	echo "0.1.0~git$(git rev-list --count HEAD).$sha$dirty"
fi
