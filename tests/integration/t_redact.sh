#!/usr/bin/env bash
# t_redact.sh: redaction before the spool: events, batches, sessions, updates, model events and OTLP spans in both encodings, on both listeners; never on disk, never upstream; hash, reload, counters.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

EMAIL=jane.doe+tracing@example.com
CARD="4111 1111 1111 1111"
APIKEY=sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6
SECRET="write to $EMAIL, card $CARD, key $APIKEY"
RULES=$TMP/redact.rules
cat >"$RULES" <<'EOF'
# name          where                      what        action
# The hash first: rules apply in order, and a mask before it would leave
# it only the mask to hash.
user-email      field:metadata.user_email  value       hash
emails          *                          email       mask
cards           *                          card        mask
keys            *                          apikey      mask
prompts         attr:gen_ai.prompt.*       value       drop
EOF
printf 'first-secret\n' >"$TMP/hash.key"
chmod 600 "$TMP/hash.key"
RARGS=(--set "redact_rules=$RULES" --set "redact_hash_key_file=$TMP/hash.key")

# hmac KEY TEXT: the hex HMAC-SHA-256, computed by openssl, not by us.
hmac() {
	printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | sed 's/.* //'
}
# on_disk TEXT: 1 when TEXT is anywhere in the spool's files, raw bytes.
on_disk() {
	cat "$SPOOL"/*.mdb | grep -aqF -- "$1"
}
upstream_has() {
	grep -qF -- "$1" "$UPSTREAM_LOG"
}

# --- configuration: -t, and errors naming file and line --------------------
out=$("$TSD" -c /dev/null "${RARGS[@]}" -t 2>&1)
check_eq "tracespoold -t with rules exits 0" 0 $?
check "... and prints the compiled rules" grep -q '^prompts attr:gen_ai.prompt.\* value drop$' <<<"$out"
check "... never the hash secret" bash -c "! grep -q first-secret <<<'$out'"
printf 'ok * email mask\nbad field:a..b value mask\nre * /([a-z]/ mask\n' >"$TMP/bad.rules"
out=$("$TSD" -c /dev/null --set "redact_rules=$TMP/bad.rules" -t 2>&1)
check_eq "a rules file with errors: exit 78" 78 $?
check "... naming the file and the line of each" bash -c \
	"grep -q 'bad.rules:2:' <<<'$out' && grep -q 'bad.rules:3:' <<<'$out'"
out=$("$TSD" -c /dev/null --set "redact_rules=$RULES" -t 2>&1)
check_eq "a hash rule without a secret: exit 78" 78 $?
check "... saying so" grep -q 'redact.rules:4: rule user-email: hash needs a secret' <<<"$out"
printf 'd field:inputs value drop\n' >"$TMP/req.rules"
out=$("$TSD" -c /dev/null --set "redact_rules=$TMP/req.rules" -t 2>&1)
check_eq "a drop of a required field: exit 78" 78 $?
check "... naming the rule and its line" grep -q 'rule d (.*req.rules:1): drop would remove the required field inputs' <<<"$out"
out=$("$TSD" -c /dev/null --set "redact_rules=$TMP/none.rules" -t 2>&1)
check_eq "a missing rules file: exit 78" 78 $?

# --- tracespool redact-test: try rules before deploying them ---------------
out=$(printf '%s' "{\"event\":{\"event_type\":\"chain\",\"inputs\":{\"q\":\"$SECRET\"},\"metadata\":{\"user_email\":\"$EMAIL\"}}}" |
	"$TSCLI" redact-test --hash-key-file "$TMP/hash.key" "$RULES" 2>"$TMP/rt.err")
check_eq "tracespool redact-test exits 0" 0 $?
check_eq "... shows the event as it would be spooled" \
	"write to [REDACTED:emails], card [REDACTED:cards], key [REDACTED:keys]" \
	"$(jq -r .event.inputs.q <<<"$out")"
check_eq "... with the hash of the e-mail address" "$(hmac first-secret "$EMAIL")" \
	"$(jq -r .event.metadata.user_email <<<"$out")"
check "... and says which rules matched" grep -q '4 changes: user-email: 1, emails: 1, cards: 1, keys: 1' "$TMP/rt.err"
"$GEN" -j -n 1 -s 7 -a "user.email=$EMAIL" >"$TMP/one.json"
out=$("$TSCLI" redact-test --hash-key-file "$TMP/hash.key" "$RULES" "$TMP/one.json" 2>/dev/null)
check "... on an OTLP JSON export too" bash -c \
	"jq -e '[.resourceSpans[].scopeSpans[].spans[].attributes[] | select(.key==\"user.email\") | .value.stringValue] == [\"[REDACTED:emails]\"]' <<<'$out' >/dev/null"
echo '{}' | "$TSCLI" redact-test "$TMP/bad.rules" >/dev/null 2>&1
check_eq "... and exits 78 on a rules file with errors" 78 $?

# --- every kind of record, both listeners ----------------------------------
ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
upstream_ctl '{"mode":"status","status":503}'
export TRACESPOOL_API_KEY=daemon-key
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ts_start_daemon "${FWD[@]}" "${RARGS[@]}" --set "listen_tcp=127.0.0.1:$PORT" ||
	{ not_ok "daemon starts with rules"; ts_done; }
check "the log names the rules in force" grep -q "redaction: 5 rules from $RULES" "$DLOG"

ev=$(jq -cn --arg s "$SECRET" --arg e "$EMAIL" \
	'{event_type:"chain", event_name:"one", inputs:{q:$s}, metadata:{user_email:$e}}')
req POST /events "{\"event\":$ev}"
check_eq "an event with secrets: 200" 200 "$STATUS"
req POST /events "{\"event\":$(jq -cn --arg v "$ev" '$v')}"
check_eq "the same in the string form: 200" 200 "$STATUS"
req POST /events/batch "{\"events\":[$ev,$ev],\"is_single_session\":true,\"session_properties\":{\"metadata\":{\"owner\":\"$EMAIL\"}}}"
check_eq "a batch with secrets, and session_properties: 200" 200 "$STATUS"
req POST /session/start "{\"session\":{\"session_name\":\"s\",\"inputs\":{\"who\":\"$SECRET\"}}}"
check_eq "a session start: 200" 200 "$STATUS"
req PUT /events "{\"event_id\":\"$(uuidgen 2>/dev/null || echo 0b8f4c2e-7d0a-4c59-9a3e-1f2b3c4d5e6f)\",\"metadata\":{\"user_email\":\"$EMAIL\",\"note\":\"$SECRET\"}}"
check_eq "an update: 200" 200 "$STATUS"
req POST /events/model "{\"model_event\":{\"model\":\"m\",\"provider\":\"p\",\"messages\":[{\"role\":\"user\",\"content\":\"$SECRET\"}],\"response\":{\"content\":\"ok\"},\"usage\":{},\"duration\":1}}"
check_eq "a model event: 200" 200 "$STATUS"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary "{\"event\":$ev}" "http://127.0.0.1:$PORT/events")
check_eq "an event on the TCP listener: 200" 200 "$code"
"$GEN" -n 3 -s 61 -a "user.email=$EMAIL" -a "payment=$CARD" -a "llm.key=$APIKEY" >"$TMP/s.pb"
otlp_code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" \
	-H 'Content-Type: application/x-protobuf' --data-binary "@$TMP/s.pb" http://ts/v1/traces)
check_eq "a protobuf export with secrets in attributes: 200" 200 "$otlp_code"
"$GEN" -j -z gzip -n 3 -s 62 -a "user.email=$EMAIL" -a "payment=$CARD" -a "llm.key=$APIKEY" >"$TMP/s.json.gz"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-H 'Content-Encoding: gzip' --data-binary "@$TMP/s.json.gz" "http://127.0.0.1:$PORT/v1/traces")
check_eq "a gzip JSON export on the TCP listener: 200" 200 "$code"
clean='{"event":{"event_type":"tool",  "event_name" : "clean",
  "inputs": {"q" :  "nothing here"}}}'
req POST /events "$clean"
check_eq "an event no rule touches: 200" 200 "$STATUS"

# The real SDK and the real tracer, when Node is there.
if ! command -v node >/dev/null 2>&1; then
	skip "the real SDK and tracer through the rules" "node is not installed (scripts/deps.sh installs it)"
elif ! sdk_install; then
	not_ok "npm ci installs the pinned SDK" "$(tail -5 "$TMP/npm.log")"
else
	TS_URL=http://127.0.0.1:$PORT EMAIL=$EMAIL CARD=$CARD APIKEY=$APIKEY HONEYHIVE_TELEMETRY=false \
		timeout 120 node tests/sdk/redact_test.mjs >"$TMP/node.out" 2>&1
	grep -E '^(ok|not ok) ' "$TMP/node.out"
	T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$TMP/node.out")))
	T_FAILED=$((T_FAILED + $(grep -c '^not ok ' "$TMP/node.out")))
	check "the SDK's tracer spans are spooled" wait_for 10 bash -c \
		"'$SPOOL_DUMP' '$SPOOL' | jq -e 'select(.kind==5)' >/dev/null"
fi

kill -0 "$DAEMON_PID" && ok "the daemon is running with the records spooled"
for s in "$EMAIL" "${CARD}" "$APIKEY" "4111111111111111" "jane.doe"; do
	check "\"$s\" is nowhere in the spool's files" bash -c "! cat '$SPOOL'/*.mdb | grep -aqF -- '$s'"
done
check "the masks are on disk instead" on_disk "[REDACTED:emails]"
check "... for cards and keys too" bash -c "cat '$SPOOL'/*.mdb | grep -aqF '[REDACTED:cards]' && cat '$SPOOL'/*.mdb | grep -aqF '[REDACTED:keys]'"
HASH1=$(hmac first-secret "$EMAIL")
check "metadata.user_email is stored as its HMAC-SHA-256 (as openssl computes it)" on_disk "$HASH1"
check "the prompt attributes are dropped from the spans" bash -c \
	"! '$SPOOL_DUMP' '$SPOOL' | grep -q 'gen_ai.prompt.0'"
check "an untouched event keeps the client's exact bytes" bash -c \
	"'$SPOOL_DUMP' '$SPOOL' | grep -qF '\"event_name\" : \"clean\",
  \"inputs\": {\"q\" :  \"nothing here\"}}'"

# --- forwarding: what reaches the upstream ---------------------------------
upstream_ctl '{"mode":"ok"}'
check "everything drains" wait_for 30 spool_empty
for s in "$EMAIL" "$CARD" "$APIKEY"; do
	check "\"$s\" never reaches the upstream" bash -c "! grep -qF -- '$s' '$UPSTREAM_LOG'"
done
uploaded_spans_attrs() {
	jq -r 'select(.answered==200 and .path=="/opentelemetry/v1/traces"
		and (.content_type|startswith("application/x-protobuf"))) | .body_b64' "$UPSTREAM_LOG" |
		"$GEN" -B
}
check "the masked forms arrive in the protobuf spans" bash -c \
	"'$GEN' -B < <(jq -r 'select(.answered==200 and (.content_type|startswith(\"application/x-protobuf\"))) | .body_b64' '$UPSTREAM_LOG') | grep -q 'REDACTED:emails'"
check "... and in the JSON spans" upstream_has '"stringValue":"[REDACTED:cards]"'
check "... and the hash in the events" upstream_has "$HASH1"
check "no protobuf span upstream carries a prompt attribute" bash -c \
	"! uploaded_spans_attrs 2>/dev/null | grep -q 'gen_ai.prompt.0'"
n=$(curl -s --unix-socket "$SOCK" http://ts/metrics | sed -n 's/^tracespool_redactions_total{rule="emails"} //p')
check "tracespool_redactions_total counts the e-mail masks ($n)" test "${n:-0}" -ge 10
check_eq "/stats has the same count" "$n" "$(stat_field redactions.emails)"
check "tracespool status shows the rules' matches" bash -c \
	"'$TSCLI' --socket '$SOCK' status | grep -q '^redactions: .* emails $n,'"
check "... and the spans" bash -c "'$TSCLI' --socket '$SOCK' status | grep -q '^spans received: '"

# --- the hash across a restart, and under another secret -------------------
ts_stop_daemon
ts_start_daemon "${FWD[@]}" "${RARGS[@]}" || { not_ok "daemon restarts"; ts_done; }
: >"$UPSTREAM_LOG"
req POST /events "{\"event\":$ev}"
check "the same value hashes alike after a restart" wait_for 20 upstream_has "$HASH1"
ts_stop_daemon
printf 'second-secret\n' >"$TMP/hash.key"
ts_start_daemon "${FWD[@]}" "${RARGS[@]}" || { not_ok "daemon restarts"; ts_done; }
: >"$UPSTREAM_LOG"
req POST /events "{\"event\":$ev}"
HASH2=$(hmac second-secret "$EMAIL")
check "another secret gives another hash" wait_for 20 upstream_has "$HASH2"
check "... not the first one" bash -c "! grep -qF '$HASH1' '$UPSTREAM_LOG'"

# --- SIGHUP: a bad file is refused whole, a good one applies ----------------
before=$(stat_field redactions.emails)
cp "$RULES" "$RULES.good"
printf 'broken * nosuch mask\n' >"$RULES"
kill -HUP "$DAEMON_PID"
check "a reload with a bad rules file is refused and logged" \
	wait_for 5 grep -q 'redaction rules have errors; keeping' "$DLOG"
: >"$UPSTREAM_LOG"
req POST /events "{\"event\":$ev}"
check "... and the old rules stay in force" wait_for 20 upstream_has "[REDACTED:emails]"
{ cat "$RULES.good"; echo 'names field:event_name /one/ mask'; } >"$RULES"
kill -HUP "$DAEMON_PID"
check "a good new rules file is taken" wait_for 5 grep -q 'redaction: 6 rules from' "$DLOG"
: >"$UPSTREAM_LOG"
req POST /events "{\"event\":$ev}"
check "... and its new rule applies" wait_for 20 upstream_has '"event_name":"[REDACTED:names]"'
after=$(stat_field redactions.emails)
check "counters of rules that stay survive the reload ($before -> $after)" test "$after" -gt "$before"

ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
