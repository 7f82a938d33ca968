#!/usr/bin/env bash
# t_strict_json.sh: JSON that RFC 8259 forbids is refused with 400 and spools nothing, in every form: body, string form, batch.
#
# cJSON is lax (leading zeros, "1.", raw control characters in strings,
# any byte up to 0x20 as white space); the daemon spools the client's
# bytes as they are, so what it acknowledges must be strict JSON, or a
# strict upstream refuses it later and it ends up dead-lettered.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_daemon || {
	not_ok "daemon starts"
	ts_done
}

# post_file NAME PATH FILE WANT: POST FILE's bytes; STATUS and the error.
post_file() {
	req POST "$2" "@$3"
	check_eq "$1: answered $4" "$4" "$STATUS"
	if [ "$4" = 400 ]; then
		check "$1: the error says where ($(jget .error))" \
			grep -q 'invalid JSON at byte [0-9]*' <<<"$(jget .error)"
	fi
}

before=$(stat_field spool_events)
n=0
# bad NAME TEMPLATE: printf TEMPLATE (with the escapes it holds) into each
# form: the event as an object, as a string, and inside a batch.
bad() {
	local name=$1 tmpl=$2
	n=$((n + 1))
	# shellcheck disable=SC2059
	printf "{\"event\": {\"event_type\": \"chain\", \"inputs\": $tmpl}}" >"$TMP/b$n.json"
	post_file "$name (object form)" /events "$TMP/b$n.json" 400
	# shellcheck disable=SC2059
	printf "{\"events\": [{\"event_type\": \"tool\", \"inputs\": {}}, {\"event_type\": \"chain\", \"inputs\": $tmpl}]}" >"$TMP/c$n.json"
	post_file "$name (batch)" /events/batch "$TMP/c$n.json" 400
}
bad "number 01" '{"n": 01}'
bad "number -007" '{"n": -007}'
bad "number 1." '{"n": 1.}'
bad "number -.5" '{"n": -.5}'
bad "number 1.e5" '{"n": 1.e5}'
bad "raw TAB in a string" '{"s": "a\tb"}'
bad "raw LF in a string" '{"s": "a\nb"}'
bad "raw ESC in a string" '{"s": "\033[0m"}'
bad "byte 0x0B between tokens" '{"n":\0131}'
bad "byte 0x0C between tokens" '{"n":\0141}'
bad "byte 0x01 between tokens" '{\001"n":1}'

# The string form: the text inside the string is held to the same grammar.
sform() {
	local name=$1 inner=$2 want=$3
	n=$((n + 1))
	jq -cn --arg e "$inner" '{event: $e}' >"$TMP/s$n.json"
	req POST /events "@$TMP/s$n.json"
	check_eq "string form, $name: answered $want" "$want" "$STATUS"
	n=$((n + 1))
	jq -cn --arg e "$inner" '{events: [$e]}' >"$TMP/s$n.json"
	req POST /events/batch "@$TMP/s$n.json"
	check_eq "string form in a batch, $name: answered $want" "$want" "$STATUS"
}
sform "number 01" '{"event_type":"chain","inputs":{"n":01}}' 400
sform "raw TAB" "$(printf '{"event_type":"chain","inputs":{"s":"a\tb"}}')" 400
sform "byte 0x0B before the object" "$(printf '\013{"event_type":"chain","inputs":{}}')" 400
check_eq "nothing refused was spooled" "$before" "$(stat_field spool_events)"

# Text after an escaped NUL was dropped without a word (cJSON's string ends
# at the NUL) and the event acknowledged.
printf '%s' '{"event":"{\"event_type\":\"chain\",\"inputs\":{}}\u0000GARBAGE"}' >"$TMP/nul.json"
req POST /events "@$TMP/nul.json"
check_eq "string form with text after \\u0000: answered 400" 400 "$STATUS"
check "the error names the \\u0000 ($(jget .error))" grep -q 'u0000' <<<"$(jget .error)"
printf '%s' '{"events":["{\"event_type\":\"chain\",\"inputs\":{}}\u0000{}"]}' >"$TMP/nulb.json"
req POST /events/batch "@$TMP/nulb.json"
check_eq "batch string with text after \\u0000: answered 400" 400 "$STATUS"
check_eq "still nothing spooled" "$before" "$(stat_field spool_events)"

# What is valid still passes, in every form, escapes and all.
req POST /events '{"event": {"event_type": "chain", "inputs": {"n": [0, -0, 1.5, -2e-3, 1E+2], "s": "tab\there \u00e9 \ud83d\ude00 \"q\""}}}'
check_eq "strict JSON with every number form and escape: 200" 200 "$STATUS"
req POST /events "$(jq -cn '{event: "{\"event_type\":\"chain\",\"inputs\":{\"s\":\"a\\tb\\u00e9\"}}"}')"
check_eq "string form whose JSON holds escapes of its own: 200" 200 "$STATUS"
req POST /events/batch "$(printf '{"events":[\r\n\t{"event_type":"tool","inputs":{}} ]}')"
check_eq "batch with CR, LF and TAB as white space: 200" 200 "$STATUS"
check_eq "the three valid requests were spooled" $((before + 3)) "$(stat_field spool_events)"

ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
