#!/usr/bin/env bash
# t_ingest.sh: the ingest path end to end: validation, defaults, ids, errors, all-or-nothing batches.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_daemon --set default_project=Proj || { not_ok "daemon starts"; ts_done; }
ok "daemon starts and answers /healthz"

# The reference example, as an object: answered with its own ids.
REF=$(cat "$REF_EVENT")
req POST /events "{\"event\": $REF}"
check_eq "reference event (object form) answers 200" 200 "$STATUS"
check_eq "reference event keeps its event_id" 7f22137a-6911-4ed3-bc36-110f1dde6b66 "$(jget .event_id)"
check_eq "reference event keeps its session_id" caf77ace-3417-4da4-944d-f4a0688f3c23 "$(jget .session_id)"
check_eq "reply says success" true "$(jget .success)"

# The same event as a JSON-encoded string (the reference API's own form).
REF2=$(jq -c '.event_id = "0b6b1f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"' "$REF_EVENT")
req POST /events "$(jq -cn --arg e "$REF2" '{event: $e}')"
check_eq "reference event (string form) answers 200" 200 "$STATUS"
check_eq "string form keeps its event_id" 0b6b1f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b "$(jget .event_id)"

# The spooled bytes are the client's bytes: the object form stored as sent.
stored=$(spool_dump | jq -c 'select(.event.event_id=="7f22137a-6911-4ed3-bc36-110f1dde6b66") | .event')
check_eq "spooled reference event equals what was sent" "$(jq -cS . "$REF_EVENT")" "$(printf '%s' "$stored" | jq -cS .)"

# A minimal event gets generated ids and the defaults.
req POST /events '{"event": {"event_type": "chain", "inputs": {}}}'
check_eq "minimal event answers 200" 200 "$STATUS"
eid=$(jget .event_id)
sid=$(jget .session_id)
check "generated event_id is a UUID v4" is_uuid_v4 "$eid"
check "generated session_id is a UUID v4" is_uuid_v4 "$sid"
ev=$(spool_dump | jq -c --arg id "$eid" 'select(.event.event_id==$id) | .event')
check_eq "spooled event has the answered session_id" "$sid" "$(jq -r .session_id <<<"$ev")"
check_eq "parent_id defaults to session_id" "$sid" "$(jq -r .parent_id <<<"$ev")"
check_eq "event_name defaults to unknown" unknown "$(jq -r .event_name <<<"$ev")"
check_eq "source defaults to unknown" unknown "$(jq -r .source <<<"$ev")"
check_eq "default_project filled" Proj "$(jq -r .project <<<"$ev")"

# Batches: all or nothing.
before=$(stat_field spool_events)
req POST /events/batch '{"events": [{"event_type":"tool","inputs":{}}, {"event_type":"bogus","inputs":{}}, {"event_type":"chain","inputs":{}}]}'
check_eq "batch with one bad event answers 400" 400 "$STATUS"
check_eq "error names the bad event's field" "events[1].event_type" "$(jget .error | cut -d: -f1)"
check_eq "error body says success false" false "$(jget .success)"
check_eq "rejected batch spooled nothing" "$before" "$(stat_field spool_events)"

req POST /events/batch '{"events": [{"event_type":"tool","inputs":{}}, "{\"event_type\":\"model\",\"inputs\":{\"q\":1}}"]}'
check_eq "good batch answers 200" 200 "$STATUS"
check_eq "good batch returns two event_ids" 2 "$(jget '.event_ids | length')"
check_eq "good batch spooled two events" $((before + 2)) "$(stat_field spool_events)"

req POST /events/batch '{"is_single_session": true, "events": [{"event_type":"tool","inputs":{}}, {"event_type":"chain","inputs":{}}]}'
check_eq "single-session batch answers 200" 200 "$STATUS"
ssid=$(jget .session_id)
check "single-session batch returns its session_id" is_uuid_v4 "$ssid"
n=$(spool_dump | jq -r --arg s "$ssid" 'select(.event.session_id==$s) | .seq' | wc -l)
check_eq "both events carry the batch's session_id" 2 "$n"

# Errors: JSON bodies and the contract's status codes.
req POST /events '{"event": {"event_type": "chain"}}'
check_eq "missing inputs is 400" 400 "$STATUS"
check_eq "missing inputs names event.inputs" "event.inputs" "$(jget .error | cut -d: -f1)"
req POST /events '{"event": {"event_type": "chain", "inputs": {}, "event_id": "not-a-uuid"}}'
check_eq "bad event_id is 400" 400 "$STATUS"
req POST /events '{"event": {"event_type": "chain", "inputs": {}, "error": null, "duration": "5"}}'
check_eq "duration as a string is 400 naming it" "400 event.duration" "$STATUS $(jget .error | cut -d: -f1)"
req POST /events '{"event": '
check_eq "truncated JSON is 400" 400 "$STATUS"
check_eq "truncated JSON error is JSON" false "$(jget .success)"
printf '{"event": {"event_type": "chain", "inputs": {"a": "\xff\xfe"}}}' >"$TMP/bad_utf8.json"
req POST /events "@$TMP/bad_utf8.json"
check_eq "invalid UTF-8 is 400" "400 body" "$STATUS $(jget .error | cut -d: -f1)"
deep=$(printf '{"event":{"event_type":"chain","inputs":{"x":%s1%s}}}' "$(printf '[%.0s' $(seq 1 5000))" "$(printf ']%.0s' $(seq 1 5000))")
req POST /events "$deep"
check_eq "5000-deep nesting is 400, not a crash" 400 "$STATUS"
# Text after the body's JSON object (found by fuzz_body: PUT /events spooled
# it with the update, and the upstream would refuse it).
req POST /events '{"event": {"event_type": "chain", "inputs": {}}}}'
check_eq "text after the JSON body is 400 naming the body" "400 body" "$STATUS $(jget .error | cut -d: -f1)"
req PUT /events '{"event_id": "7f22137a-6911-4ed3-bc36-110f1dde6b66", "metadata": {}} x'
check_eq "PUT /events with text after the JSON is 400" 400 "$STATUS"
req GET /nope
check_eq "unknown path is 404 JSON" "404 false" "$STATUS $(jget .success)"
req GET /events/abc
check_eq "read call is 404 saying tracespool only takes writes" 1 "$(jget .error | grep -c 'only accepts')"
req GET /events/batch
check_eq "wrong method is 405 JSON" "405 false" "$STATUS $(jget .success)"
head -c 17000000 /dev/zero | tr '\0' ' ' >"$TMP/huge.json"
req POST /events "@$TMP/huge.json"
check_eq "body over max_body_bytes is 413 JSON" "413 false" "$STATUS $(jget .success)"
big=$(head -c 1100000 /dev/zero | tr '\0' 'a')
printf '{"event": {"event_type": "chain", "inputs": {"a": "%s"}}}' "$big" >"$TMP/big_event.json"
req POST /events "@$TMP/big_event.json"
check_eq "event over max_event_bytes is 413" "413 event" "$STATUS $(jget .error | cut -d: -f1)"

# The client's Authorization header is never stored.
req POST /events '{"event": {"event_type": "chain", "inputs": {}, "event_name": "authcheck"}}' -H 'Authorization: Bearer secret-client-token'
check_eq "event with Authorization header accepted" 200 "$STATUS"
check "Authorization is not in the spool" bash -c "! grep -rq secret-client-token '$SPOOL'"
check "Authorization is not in the log" bash -c "! grep -q secret-client-token '$DLOG'"

# Stats and health.
req GET /stats
check_eq "/stats answers 200" 200 "$STATUS"
for f in spool_events spool_bytes dead_letters events_forwarded upstream_last_status forwarder_state forwarder_reason; do
	check "/stats has $f" test "$(jget "has(\"$f\")")" = true
done
req GET /healthz
check_eq "/healthz says ok" "200 ok" "$STATUS $(jget .status)"

# Socket permissions follow socket_mode, whatever the umask.
check_eq "socket has mode 0660" 660 "$(stat -c %a "$SOCK")"
check "spool folder is not world-readable" test "$(stat -c %a "$SPOOL")" = 700

ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
