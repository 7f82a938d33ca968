#!/bin/sh
# deps.sh: install the Debian packages that building and testing need, when missing.
set -eu
PKGS="build-essential pkg-config libevent-dev libcjson-dev liblmdb-dev
libcurl4-openssl-dev libsystemd-dev libcmocka-dev libhttp-parser-dev
curl jq lmdb-utils valgrind clang systemd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
