#!/bin/sh
# deps.sh: install the Debian packages that building and testing need, when missing.
set -eu
PKGS="build-essential pkg-config libevent-dev libcjson-dev liblmdb-dev
libcurl4-openssl-dev libsystemd-dev libcmocka-dev libhttp-parser-dev
libpcre2-dev libssl-dev
curl jq lmdb-utils valgrind clang systemd python3 groff-base openssl
protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
libclang-rt-14-dev"
# The SDK test (tests/integration/t_sdk_node.sh) runs the honeyhive npm
# package. A node already on the PATH (NodeSource's, nvm's, /usr/local) is
# used as it is: Debian's npm package conflicts with NodeSource's nodejs,
# which carries its own npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	PKGS="$PKGS nodejs npm"
fi
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
