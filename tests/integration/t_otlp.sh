#!/usr/bin/env bash
# t_otlp.sh: OTLP/HTTP trace ingest: both paths and encodings, compression, bad input, merging, splitting, durability, client keys.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

PB=application/x-protobuf

# otlp PATH CTYPE FILE [curl args...]: POST an export; sets STATUS, BODY,
# HEADERS (like req, but binary-safe and with the export's own type).
otlp() {
	local path=$1 ctype=$2 file=$3
	shift 3
	STATUS=$(curl -s --max-time 20 --unix-socket "$SOCK" -o "$TMP/resp.body" \
		-D "$TMP/resp.headers" -w '%{http_code}' -H "Content-Type: $ctype" \
		--data-binary "@$file" "$@" "http://ts$path")
	BODY=$(cat "$TMP/resp.body" 2>/dev/null)
	HEADERS=$(cat "$TMP/resp.headers" 2>/dev/null)
}
header() {
	sed -n "s/^$1: *//Ip" "$TMP/resp.headers" | tr -d '\r'
}

traces_requests() {
	jq -c 'select(.answered>=200 and .answered<300 and .path=="/opentelemetry/v1/traces")' "$UPSTREAM_LOG"
}

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=daemon-key
ts_start_daemon "${FWD[@]}" || { not_ok "daemon starts"; ts_done; }

# --- ingest: paths, encodings, answers ---------------------------------------
upstream_ctl '{"mode":"status","status":503}'
"$GEN" -n 4 -s 1 >"$TMP/e1.pb"
otlp /v1/traces $PB "$TMP/e1.pb"
check_eq "protobuf export on /v1/traces: 200" 200 "$STATUS"
check_eq "... answered in protobuf" "$PB" "$(header Content-Type)"
check_eq "... with an empty ExportTraceServiceResponse (no bytes)" 0 "$(stat -c %s "$TMP/resp.body")"
"$GEN" -n 4 -s 2 >"$TMP/e2.pb"
otlp /opentelemetry/v1/traces application/protobuf "$TMP/e2.pb"
check_eq "protobuf export on /opentelemetry/v1/traces (application/protobuf): 200" 200 "$STATUS"
"$GEN" -j -n 3 -r 2 -s 3 >"$TMP/e3.json"
otlp /v1/traces application/json "$TMP/e3.json"
check_eq "JSON export: 200" 200 "$STATUS"
check_eq "... answered {} in JSON" "{}" "$BODY"
check "... as application/json" grep -qi '^Content-Type: application/json' "$TMP/resp.headers"
"$GEN" -z gzip -n 5 -s 4 >"$TMP/e4.pb.gz"
otlp /v1/traces $PB "$TMP/e4.pb.gz" -H 'Content-Encoding: gzip'
check_eq "gzip protobuf export: 200" 200 "$STATUS"
"$GEN" -j -z deflate -n 2 -s 5 >"$TMP/e5.json.z"
otlp /v1/traces "application/json; charset=utf-8" "$TMP/e5.json.z" -H 'Content-Encoding: deflate'
check_eq "deflate JSON export with a charset parameter: 200" 200 "$STATUS"
spool_dump >"$TMP/dump"
check_eq "five exports spooled, one record each" 5 "$(wc -l <"$TMP/dump")"
check_eq "... kinds in order: protobuf, protobuf, JSON, protobuf, JSON" "5 5 6 5 6" \
	"$(jq -r .kind "$TMP/dump" | xargs)"
check_eq "... with their span counts" "4 4 3 5 2" "$(jq -r .count "$TMP/dump" | xargs)"
check_eq "the protobuf record is the client's bytes" "$(stat -c %s "$TMP/e1.pb")" \
	"$(head -1 "$TMP/dump" | jq -r .protobuf_bytes)"
check_eq "the JSON record holds the export's resourceSpans" \
	"$(jq -c .resourceSpans "$TMP/e3.json")" "$(sed -n 3p "$TMP/dump" | jq -c .resourceSpans)"
echo '{"resourceSpans":[]}' >"$TMP/empty.json"
otlp /v1/traces application/json "$TMP/empty.json"
check_eq "an export without spans: 200" 200 "$STATUS"
check_eq "... and nothing spooled" 5 "$(stat_field spool_events)"
req GET /v1/traces
check_eq "GET /v1/traces: 405" 405 "$STATUS"
check "... Allow: POST" grep -qi '^Allow: POST' "$TMP/resp.headers"
check_eq "stats: spans received" 18 "$(stat_field spans_received)"
check_eq "stats: exports received" 5 "$(stat_field exports_received)"

# --- forwarding: merged per encoding, in order, with the daemon's key --------
upstream_ctl '{"mode":"ok"}'
check "the spool drains once the upstream answers" wait_for 20 spool_empty
check_eq "every span arrived exactly once" \
	"$( (span_ids 1 4; span_ids 2 4; span_ids 3 3; span_ids 4 5; span_ids 5 2) | sort | xargs)" \
	"$(uploaded_spans | sort | xargs)"
check_eq "consecutive exports of one encoding share a request: 4 requests for 5 exports" 4 \
	"$(traces_requests | wc -l)"
# Requests may be in flight together, so they arrive in any order.
check_eq "... each in its encoding: two protobuf, two JSON" \
	"application/json application/json application/x-protobuf application/x-protobuf" \
	"$(traces_requests | jq -r .content_type | sort | xargs)"
check_eq "... all with the daemon's key" "Bearer daemon-key" \
	"$(traces_requests | jq -r .authorization | sort -u)"
check_eq "the merged JSON request holds both resources of its export" 2 \
	"$(traces_requests | jq 'select(.content_type | startswith("application/json")) |
		.body.resourceSpans | length' | sort -n | tail -1)"
check_eq "stats: spans forwarded" 18 "$(stat_field spans_forwarded)"
check_eq "stats: exports forwarded" 5 "$(stat_field exports_forwarded)"
check "/metrics has the span counters" \
	bash -c "curl -s --unix-socket '$SOCK' http://ts/metrics | grep -q '^tracespool_spans_forwarded_total 18'"

# --- bad input: each refused with its status, nothing spooled ---------------
upstream_ctl '{"mode":"status","status":503}'
before=$(stat_field spool_events)
# Hand-made protobuf: a span whose ids have the wrong lengths.
# Span{trace_id: 15 bytes, span_id: 8} in ScopeSpans.spans in
# ResourceSpans.scope_spans in the request's resource_spans.
printf '\x0a\x1f\x12\x1d\x12\x1b\x0a\x0f%s\x12\x08%s' "$(printf 'a%.0s' $(seq 15))" \
	"$(printf 'b%.0s' $(seq 8))" >"$TMP/bad_trace.pb"
printf '\x0a\x1f\x12\x1d\x12\x1b\x0a\x10%s\x12\x07%s' "$(printf 'a%.0s' $(seq 16))" \
	"$(printf 'b%.0s' $(seq 7))" >"$TMP/bad_span.pb"
printf '\x08\x01' >"$TMP/wire.pb"
head -c 100 "$TMP/e1.pb" >"$TMP/trunc.pb"
printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-not-deflate' >"$TMP/broken.gz"
echo '{"resourceSpans":{}}' >"$TMP/shape1.json"
"$GEN" -j -n 1 -s 9 | sed 's/"traceId":"0000000000000009/"traceId":"000000000000009/' >"$TMP/shape2.json"
echo '{"resourceSpans":[{"scopeSpans":[{"spans":[[]]}]}]}' >"$TMP/shape3.json"
# status|file|content type|encoding|what the error must say
while IFS='|' read -r want file ctype enc says; do
	args=()
	[ -n "$enc" ] && args=(-H "Content-Encoding: $enc")
	otlp /v1/traces "$ctype" "$TMP/$file" "${args[@]}"
	check_eq "$file ($ctype${enc:+, $enc}): $want" "$want" "$STATUS"
	check "... the error says \"$says\"" grep -qF -- "$says" <<<"$BODY"
done <<'EOF'
400|trunc.pb|application/x-protobuf||resource_spans[0]
400|wire.pb|application/x-protobuf||resource_spans[0]: wrong wire type
400|bad_trace.pb|application/x-protobuf||resource_spans[0].scope_spans[0].spans[0].trace_id: must be 16 bytes
400|bad_span.pb|application/x-protobuf||resource_spans[0].scope_spans[0].spans[0].span_id: must be 8 bytes
400|shape1.json|application/json||resourceSpans
400|shape2.json|application/json||resourceSpans[0].scopeSpans[0].spans[0].traceId
400|shape3.json|application/json||spans[0]
400|broken.gz|application/x-protobuf|gzip|body
415|e1.pb|text/plain||Content-Type
415|e1.pb|application/json-seq||Content-Type
415|e4.pb.gz|application/x-protobuf|br|Content-Encoding
415|e4.pb.gz|application/x-protobuf|gzip, br|Content-Encoding
EOF
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type:' \
	--data-binary "@$TMP/e1.pb" http://ts/v1/traces)
check_eq "no Content-Type at all: 415" 415 "$STATUS"

# A gzip bomb: 64 MiB of zeros in about 64 KB, over max_body_bytes (16M).
head -c $((64 * 1024 * 1024)) /dev/zero | gzip -c >"$TMP/bomb.gz"
hwm_before=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON_PID/status")
otlp /v1/traces $PB "$TMP/bomb.gz" -H 'Content-Encoding: gzip'
check_eq "a gzip bomb: 413" 413 "$STATUS"
check "... the error names the decompressed size" grep -q 'decompresses to more than max_body_bytes' <<<"$BODY"
hwm_after=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON_PID/status")
grew=$((hwm_after - hwm_before))
echo "# gzip bomb: peak RSS grew by ${grew} kB (max_body_bytes 16 MiB)"
if [ "${TS_SANITIZER:-0}" = 1 ] || [ "${TS_VALGRIND:-0}" = 1 ]; then
	skip "... peak RSS grew by less than max_body_bytes + 8 MiB" "memory is not measured under a sanitizer"
else
	check "... peak RSS grew by less than max_body_bytes + 8 MiB, not 64 MiB" test "$grew" -lt $((24 * 1024))
fi
req GET /healthz
check_eq "the daemon stays healthy after the bad input" 200 "$STATUS"
check_eq "nothing refused was spooled" "$before" "$(stat_field spool_events)"

# --- split on 400 down to the single export, dead letter, partial success ----
"$GEN" -n 2 -s 21 >"$TMP/p1.pb"
"$GEN" -n 2 -s 22 -N poison >"$TMP/p2.pb"
"$GEN" -n 2 -s 23 >"$TMP/p3.pb"
for f in p1 p2 p3; do otlp /v1/traces $PB "$TMP/$f.pb"; done
: >"$UPSTREAM_LOG"
upstream_ctl '{"mode":"reject_name","name":"poison 0","status":400}'
check "the good exports arrive around the poisoned one" wait_for 20 spool_empty
check_eq "... both good exports' spans, once each" "$( (span_ids 21 2; span_ids 23 2) | sort | xargs)" \
	"$(uploaded_spans | sort | xargs)"
check_eq "... the poisoned export alone is dead-lettered" 1 "$(stat_field dead_letters)"
check_eq "... counted as 2 spans, 1 export" "2 1" \
	"$(stat_field spans_dead_lettered) $(stat_field exports_dead_lettered)"
check "... tracespool dlq shows it as protobuf, never its bytes" \
	bash -c "'$TSCLI' --spool-dir '$SPOOL' dlq show 1 2>&1 | grep -q 'bytes of protobuf, 2 spans'"

upstream_ctl '{"mode":"partial","status":3}'
"$GEN" -n 5 -s 31 >"$TMP/q.pb"
otlp /v1/traces $PB "$TMP/q.pb"
"$GEN" -j -n 4 -s 32 >"$TMP/q.json"
otlp /v1/traces application/json "$TMP/q.json"
check "exports with a partial_success answer leave the spool (not retried)" wait_for 20 spool_empty
check_eq "... the rejected spans are counted" 6 "$(stat_field spans_rejected_upstream)"
check "... and logged" grep -q 'rejected 3 spans: fake: 3 spans rejected' "$DLOG"

# --- durability: acknowledged during an outage, SIGKILL, restart -------------
upstream_ctl '{"mode":"status","status":503}'
: >"$UPSTREAM_LOG"
for s in 41 42 43; do
	"$GEN" -n 3 -s $s >"$TMP/d$s.pb"
	otlp /v1/traces $PB "$TMP/d$s.pb"
done
"$GEN" -j -n 3 -s 44 -z gzip >"$TMP/d44.json.gz"
otlp /opentelemetry/v1/traces application/json "$TMP/d44.json.gz" -H 'Content-Encoding: gzip'
check_eq "four exports acknowledged while the upstream answers 503" 200 "$STATUS"
ts_kill_daemon
upstream_ctl '{"mode":"ok"}'
ts_start_daemon "${FWD[@]}" || { not_ok "daemon restarts"; ts_done; }
check "after SIGKILL and a restart the spool drains" wait_for 20 spool_empty
check_eq "... every acknowledged span arrives exactly once" \
	"$( (span_ids 41 3; span_ids 42 3; span_ids 43 3; span_ids 44 3) | sort | xargs)" \
	"$(uploaded_spans | sort | xargs)"

# --- forward_client_key: the client's key travels with its export ----------
ts_stop_daemon
ts_start_daemon "${FWD[@]}" --set forward_client_key=yes || { not_ok "daemon starts"; ts_done; }
upstream_ctl '{"mode":"status","status":503}'
: >"$UPSTREAM_LOG"
"$GEN" -n 1 -s 51 >"$TMP/k1.pb"
"$GEN" -n 1 -s 52 >"$TMP/k2.pb"
"$GEN" -n 1 -s 53 >"$TMP/k3.pb"
otlp /v1/traces $PB "$TMP/k1.pb" -H 'Authorization: Bearer app-one'
otlp /v1/traces $PB "$TMP/k2.pb" -H 'Authorization: Bearer app-two'
otlp /v1/traces $PB "$TMP/k3.pb"
check_eq "exports with their own keys are spooled with them" "true true false" \
	"$(spool_dump | jq -r .has_auth | xargs)"
check "... and the key is never in the daemon's log" bash -c "! grep -q 'app-one\|app-two' '$DLOG'"
upstream_ctl '{"mode":"ok"}'
check "they drain" wait_for 20 spool_empty
check_eq "each goes with its own key (none: the daemon's), never merged across keys" \
	"Bearer app-one|Bearer app-two|Bearer daemon-key" \
	"$(traces_requests | jq -r .authorization | sort | paste -sd'|')"
otlp /v1/traces $PB "$TMP/k1.pb" -H 'Authorization: Basic eDp5'
check_eq "an Authorization that is not a bearer key: 400" 400 "$STATUS"
req POST /events '{"event":{"event_type":"chain","event_name":"keyed","inputs":{}}}' -H 'Authorization: Bearer app-three'
check_eq "an event with its own key: 200" 200 "$STATUS"
check "... forwarded with that key" wait_for 20 bash -c \
	"jq -r 'select(.path==\"/events/batch\" and .answered==200) | .authorization' '$UPSTREAM_LOG' | grep -qx 'Bearer app-three'"
upstream_ctl '{"mode":"auth","key":"daemon-key"}'
otlp /v1/traces $PB "$TMP/k2.pb" -H 'Authorization: Bearer revoked'
check "an export whose own key is refused (401) goes to the dead letters" \
	wait_for 20 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://ts/stats | jq .dead_letters)\" = 2 ]"
check "... and dlq show does not print the key" \
	bash -c "! '$TSCLI' --spool-dir '$SPOOL' dlq show 2 2>&1 | grep -q revoked"
check_eq "... while the daemon's own key keeps forwarding" idle "$(stat_field forwarder_state)"

ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
