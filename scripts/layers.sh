#!/bin/sh
# layers.sh: fails when a source file includes a header of a layer it may not use.
#
# The layers, low to high (README.md, STYLE.md):
#   common < conf, spool, otlp < redact < forwarder < daemon
# and cli, the command-line tool, may use any layer but daemon. A layer
# uses its own headers and those of the layers below it; conf, spool and
# otlp stand side by side and do not use each other. tests/ and bench/ may
# include anything. Only the "dir/file.h" form names a layer; a header
# named without a folder is one of the including file's own folder.
#
# Usage: scripts/layers.sh [FILE...]   (default: every .c and .h of the
# layer folders and cli/). Prints one line per offending #include and
# exits 1 when there is any.
set -u
cd "$(dirname "$0")/.." || exit 2

# may_use LAYER: the folders LAYER may include from; "*" for any.
may_use() {
	case $1 in
	common) echo "common" ;;
	conf | spool | otlp) echo "$1 common" ;;
	redact) echo "redact conf spool otlp common" ;;
	forwarder) echo "forwarder redact conf spool otlp common" ;;
	daemon) echo "daemon forwarder redact conf spool otlp common" ;;
	cli) echo "cli forwarder redact conf spool otlp common" ;;
	*) echo "*" ;;
	esac
}

if [ $# -eq 0 ]; then
	# shellcheck disable=SC2046 # file names have no spaces
	set -- $(find common conf spool otlp redact forwarder daemon cli \
		-name '*.[ch]' | sort)
fi
bad=0
for f in "$@"; do
	layer=${f%%/*}
	allowed=$(may_use "$layer")
	[ "$allowed" = "*" ] && continue
	out=$(awk -v file="$f" -v layer="$layer" -v list="$allowed" \
		-v allowed=" $allowed " '
		/^[ \t]*#[ \t]*include[ \t]*"[A-Za-z0-9_]+\// {
			h = $0
			sub(/^[^"]*"/, "", h)
			sub(/".*$/, "", h)
			dir = h
			sub(/\/.*$/, "", dir)
			if (index(allowed, " " dir " ") == 0)
				printf "%s:%d: %s includes %s; %s may use only: %s\n",
				    file, FNR, layer, h, layer, list
		}' "$f")
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		bad=1
	fi
done
if [ "$bad" -ne 0 ]; then
	echo "layers.sh: a layer includes a header of a layer above or beside it" >&2
	exit 1
fi
exit 0
