#!/usr/bin/env bash
# t_sdk.sh: every write call of the SDK with curl over the Unix socket: replies, spool, upstream paths and order, validation.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=sdk-key
FWD=(--set retry_initial=100ms --set retry_max=1s --set flush_interval=50ms)
ts_start_daemon "${FWD[@]}" --set default_project=Fallback || { not_ok "daemon starts"; ts_done; }

SID=caf77ace-3417-4da4-944d-f4a0688f3c23
EID=7f22137a-6911-4ed3-bc36-110f1dde6b66

# upstream FILTER: jq over the logged requests answered 2xx, one result a line.
upstream() {
	jq -c "select(.answered >= 200 and .answered < 300) | $1" "$UPSTREAM_LOG"
}
upstream_has() {
	[ "$(upstream "$1" | wc -l)" -ge "$2" ]
}

# POST /session/start: the session_id given, or a generated one, at once.
req POST /session/start "{\"session\": {\"project\": \"P\", \"session_name\": \"s1\", \"source\": \"test\", \"session_id\": \"$SID\", \"inputs\": {\"q\": 1}}}"
check_eq "session/start with a session_id answers 200" 200 "$STATUS"
check_eq "the reply is the remote's shape, exactly {session_id}" "{\"session_id\":\"$SID\"}" "$BODY"
req POST /session/start '{"session": {"session_name": "bare", "source": "test"}}'
check_eq "session/start without a session_id answers 200" 200 "$STATUS"
GEN_SID=$(jget .session_id)
check "a generated session_id is a v4 UUID" is_uuid_v4 "$GEN_SID"
req POST /session/start '{"session": {}}'
check_eq "an empty session is accepted" 200 "$STATUS"
EMPTY_SID=$(jget .session_id)

# POST /events and the batch into that session, the update after its event.
req POST /events "{\"event\": {\"project\": \"P\", \"event_type\": \"model\", \"event_name\": \"llm\", \"event_id\": \"$EID\", \"session_id\": \"$SID\", \"inputs\": {}}}"
check_eq "POST /events answers 200 with the given ids" "200 $EID $SID true" \
	"$STATUS $(jget .event_id) $(jget .session_id) $(jget .success)"
req PUT /events "{\"event_id\": \"$EID\", \"metadata\": {\"tokens\": 3}, \"outputs\": {\"a\": \"b\"}, \"duration\": 12.5, \"x-extra\": [1]}"
check_eq "PUT /events answers 200 {success:true}" "200 {\"success\":true}" "$STATUS $BODY"
req POST /events/batch "{\"events\": [{\"event_type\": \"tool\", \"inputs\": {}, \"project\": \"P\"}, {\"event_type\": \"chain\", \"inputs\": {}}], \"is_single_session\": true, \"session_properties\": {\"session_name\": \"batch-session\", \"source\": \"sdk\", \"metadata\": {\"k\": 1}}}"
check_eq "single-session batch with session_properties answers 200" 200 "$STATUS"
BATCH_SID=$(jget .session_id)
BATCH_IDS=$(jget '.event_ids | join(" ")')
check_eq "the batch answers two event_ids and its session" "2 true" \
	"$(jget '.event_ids | length') $(is_uuid_v4 "$BATCH_SID" && echo true)"
req POST /events/batch "{\"events\": [{\"event_type\": \"tool\", \"inputs\": {}}], \"is_single_session\": true, \"session_properties\": {\"session_id\": \"$GEN_SID\"}}"
check_eq "session_properties.session_id is the batch's session" "200 $GEN_SID" "$STATUS $(jget .session_id)"

# Model events.
MODEL='{"project": "P", "model": "gpt-4o", "provider": "openai", "messages": [{"role": "user", "content": "hi"}], "response": {"role": "assistant", "content": "hello"}, "duration": 42, "usage": {"total_tokens": 20}}'
req POST /events/model "{\"model_event\": $MODEL}"
check_eq "POST /events/model answers 200 with an event_id" "200 true" "$STATUS $(jget .success)"
MODEL_EID=$(jget .event_id)
check "its event_id is a v4 UUID" is_uuid_v4 "$MODEL_EID"
check_eq "the model reply is the remote's shape" '["event_id","success"]' "$(jget '[keys[]] | tostring')"
req POST /events/model/batch "{\"model_events\": [$MODEL, $MODEL, $MODEL]}"
check_eq "POST /events/model/batch answers 200 with three event_ids" "200 3 true" \
	"$STATUS $(jget '.event_ids | length') $(jget .success)"
MODEL_BATCH_IDS=$(jget '.event_ids | join(" ")')
req POST /events/model/batch "{\"model_events\": [$MODEL, $MODEL], \"is_single_session\": true}"
check_eq "a single-session model batch answers 200" 200 "$STATUS"
MODEL_SINGLE_IDS=$(jget '.event_ids | join(" ")')
req PUT /events "{\"event_id\": \"$MODEL_EID\", \"feedback\": {\"rating\": 5}}"
check_eq "an update of the model event answers 200" 200 "$STATUS"

# What was spooled, kind by kind (the forwarder may already have sent some).
check "every call arrives upstream" wait_for 15 upstream_has 'select(.method == "PUT")' 2

# The upstream receives each call on its own path with the same ids.
check_eq "session/start arrives with the given session" "$SID s1 P" \
	"$(upstream "select(.path == \"/session/start\" and .body.session.session_id == \"$SID\") | .body.session | \"\\(.session_id) \\(.session_name) \\(.project)\"" | tr -d '"')"
check_eq "the generated session_id is the one upstream, with default_project" "$GEN_SID Fallback" \
	"$(upstream "select(.path == \"/session/start\" and .body.session.session_name == \"bare\") | .body.session | \"\\(.session_id) \\(.project)\"" | tr -d '"')"
check_eq "the empty session arrives with its id" 1 \
	"$(upstream "select(.path == \"/session/start\" and .body.session.session_id == \"$EMPTY_SID\")" | wc -l)"
check_eq "the event arrives in /events/batch with its ids" "$EID $SID" \
	"$(upstream ".body.events[]? | select(.event_id == \"$EID\") | \"\\(.event_id) \\(.session_id)\"" | tr -d '"')"
check_eq "the update arrives as PUT /events, the client's members intact" "$EID 3 12.5 [1]" \
	"$(upstream "select(.method == \"PUT\" and .path == \"/events\" and .body.event_id == \"$EID\") | .body | \"\\(.event_id) \\(.metadata.tokens) \\(.duration) \\(.\"x-extra\")\"" | tr -d '"')"
ev_line=$(grep -n "\"event_id\":\"$EID\"" "$UPSTREAM_LOG" | grep -v '"method":"PUT"' | head -1 | cut -d: -f1)
up_line=$(grep -n '"method":"PUT"' "$UPSTREAM_LOG" | grep "$EID" | head -1 | cut -d: -f1)
check "the update arrives after its event (log lines $ev_line < $up_line)" test "${ev_line:-0}" -lt "${up_line:-0}" -a "${ev_line:-0}" -gt 0
sess_line=$(grep -n "\"session_name\":\"batch-session\"" "$UPSTREAM_LOG" | head -1 | cut -d: -f1)
first_batch_id=${BATCH_IDS%% *}
batch_line=$(grep -n "\"event_id\":\"$first_batch_id\"" "$UPSTREAM_LOG" | head -1 | cut -d: -f1)
check "session_properties arrive as a session start before the batch's events" \
	test "${sess_line:-0}" -gt 0 -a "${sess_line:-0}" -lt "${batch_line:-0}"
check_eq "that session start carries the batch's session and properties" "$BATCH_SID sdk 1 P" \
	"$(upstream 'select(.body.session.session_name == "batch-session") | .body.session | "\(.session_id) \(.source) \(.metadata.k) \(.project)"' | tr -d '"')"
check_eq "both batch events arrive in the batch's session" "$BATCH_SID $BATCH_SID" \
	"$(for id in $BATCH_IDS; do upstream ".body.events[]? | select(.event_id == \"$id\") | .session_id" | tr -d '"'; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "the model event arrives on /events/model/batch with its id" "$MODEL_EID gpt-4o" \
	"$(upstream "select(.path == \"/events/model/batch\") | .body.model_events[] | select(.event_id == \"$MODEL_EID\") | \"\\(.event_id) \\(.model)\"" | tr -d '"')"
got=$(for id in $MODEL_BATCH_IDS; do upstream "select(.path == \"/events/model/batch\") | .body.model_events[] | select(.event_id == \"$id\") | .event_id" | tr -d '"'; done | tr '\n' ' ' | sed 's/ $//')
check_eq "the model batch's ids are the ones upstream" "$MODEL_BATCH_IDS" "$got"
single=$(for id in $MODEL_SINGLE_IDS; do upstream "select(.path == \"/events/model/batch\") | .body.model_events[] | select(.event_id == \"$id\") | .session_id" | tr -d '"'; done | sort -u)
check "a single-session model batch shares one session upstream" test "$(echo "$single" | wc -l)" = 1 -a -n "$single"
check_eq "no model event goes to /events/batch" 0 "$(upstream '.body.events[]? | select(.model != null)' | wc -l)"
mod_line=$(grep -n "\"event_id\":\"$MODEL_EID\"" "$UPSTREAM_LOG" | grep -v '"method":"PUT"' | head -1 | cut -d: -f1)
mup_line=$(grep -n '"method":"PUT"' "$UPSTREAM_LOG" | grep "$MODEL_EID" | head -1 | cut -d: -f1)
check "the model event's update arrives after it" test "${mod_line:-0}" -gt 0 -a "${mod_line:-0}" -lt "${mup_line:-0}"
check_eq "every upstream request carries the daemon's key" 0 "$(jq -r 'select(.authorization != "Bearer sdk-key")' "$UPSTREAM_LOG" | wc -l)"
check "the spool empties" wait_for 10 spool_empty

# Methods and read calls.
req GET /session/start
check_eq "GET /session/start is 405 JSON, Allow: POST" "405 false 1" \
	"$STATUS $(jget .success) $(printf '%s' "$HEADERS" | grep -ci '^Allow: POST')"
req DELETE /events
check_eq "DELETE /events is 405, Allow: POST, PUT" "405 1" "$STATUS $(printf '%s' "$HEADERS" | grep -ci '^Allow: POST, PUT')"
req PUT /events/batch '{}'
check_eq "PUT /events/batch is 405" 405 "$STATUS"
req GET /events/model
check_eq "GET /events/model is 405" 405 "$STATUS"
for p in /events "/session/$SID" /projects /datasets "/events/$EID"; do
	req GET "$p"
	check_eq "GET $p is a 404 saying tracespool only accepts writes" "404 false 1" \
		"$STATUS $(jget .success) $(jget .error | grep -c 'only accepts')"
done

# Validation: each new endpoint, status and the error's field path.
# vcase METHOD PATH BODY STATUS ERROR-PREFIX
vcase() {
	req "$1" "$2" "$3"
	check_eq "$1 $2 ${3:0:90} -> $4 $5" "$4 $5" "$STATUS $(jget '.error // ""' | cut -d: -f1)"
}
vcase POST /session/start '{}' 400 session
vcase POST /session/start '{"session": []}' 400 session
vcase POST /session/start '{"session": "{}"}' 400 session
vcase POST /session/start '{"session": {"session_id": "nope"}}' 400 session.session_id
vcase POST /session/start '{"session": {"session_id": null}}' 400 session.session_id
vcase POST /session/start '{"session": {"project": 1}}' 400 session.project
vcase POST /session/start '{"session": {"session_name": ["x"]}}' 400 session.session_name
vcase POST /session/start '{"session": {"source": null}}' 400 session.source
vcase POST /session/start '{"session": {"children_ids": ["a", 2]}}' 400 'session.children_ids[1]'
vcase POST /session/start '{"session": {"metadata": "x"}}' 400 session.metadata
vcase POST /session/start '{"session": {"inputs": []}}' 400 session.inputs
vcase POST /session/start '{"session": {"user_properties": 1}}' 400 session.user_properties
vcase POST /session/start '{"session": {"error": 1}}' 400 session.error
vcase POST /session/start '{"session": {"error": null, "duration": 1, "start_time": 2, "end_time": 3}}' 200 ''
vcase POST /session/start '{"session": {"duration": "1"}}' 400 session.duration
vcase POST /session/start '{"session": {"session_name": "a", "session_name": "b"}}' 400 session.session_name
vcase POST /session/start "{\"session\": {\"session_id\": \"$SID\\u0000x\"}}" 400 session
vcase PUT /events '{}' 400 event_id
vcase PUT /events '{"event_id": "not-a-uuid"}' 400 event_id
vcase PUT /events '{"event_id": 7}' 400 event_id
vcase PUT /events "{\"event_id\": \"$EID\", \"metadata\": []}" 400 metadata
vcase PUT /events "{\"event_id\": \"$EID\", \"feedback\": \"good\"}" 400 feedback
vcase PUT /events "{\"event_id\": \"$EID\", \"metrics\": null}" 400 metrics
vcase PUT /events "{\"event_id\": \"$EID\", \"outputs\": 1}" 400 outputs
vcase PUT /events "{\"event_id\": \"$EID\", \"config\": true}" 400 config
vcase PUT /events "{\"event_id\": \"$EID\", \"user_properties\": []}" 400 user_properties
vcase PUT /events "{\"event_id\": \"$EID\", \"duration\": \"5\"}" 400 duration
vcase PUT /events "{\"event_id\": \"$EID\", \"unknown\": null, \"inputs\": 1}" 200 ''
vcase PUT /events '[1]' 400 body
vcase POST /events/model '{}' 400 model_event
vcase POST /events/model '{"model_event": 1}' 400 model_event
vcase POST /events/model '{"model_event": {}}' 400 model_event.duration
vcase POST /events/model "{\"model_event\": $(jq -c 'del(.usage)' <<<"$MODEL")}" 400 model_event.usage
vcase POST /events/model "{\"model_event\": $(jq -c '.messages = [1]' <<<"$MODEL")}" 400 'model_event.messages[0]'
vcase POST /events/model "{\"model_event\": $(jq -c '.messages = {}' <<<"$MODEL")}" 400 model_event.messages
vcase POST /events/model "{\"model_event\": $(jq -c '.event_type = "chain"' <<<"$MODEL")}" 400 model_event.event_type
vcase POST /events/model "{\"model_event\": $(jq -c '.event_type = "model"' <<<"$MODEL")}" 200 ''
vcase POST /events/model "{\"model_event\": $(jq -c '.event_id = "x"' <<<"$MODEL")}" 400 model_event.event_id
vcase POST /events/model "{\"model_event\": $(jq -c '.cost = "1"' <<<"$MODEL")}" 400 model_event.cost
vcase POST /events/model "{\"model_event\": $(jq -c '.error = null | .tool_choice = "auto" | .tools = [{}] | .template = [] | .hyperparameters = {}' <<<"$MODEL")}" 200 ''
vcase POST /events/model/batch '{}' 400 model_events
vcase POST /events/model/batch '{"model_events": {}}' 400 model_events
vcase POST /events/model/batch "{\"model_events\": [$MODEL, $MODEL, $(jq -c 'del(.response)' <<<"$MODEL")]}" 400 'model_events[2].response'
vcase POST /events/model/batch "{\"model_events\": [$MODEL, \"x\"]}" 400 'model_events[1]'
vcase POST /events/batch '{"events": [], "is_single_session": true, "session_properties": {"session_id": "bad"}}' 400 session_properties.session_id
vcase POST /events/batch '{"events": [], "is_single_session": true, "session_properties": {"inputs": 1}}' 400 session_properties.inputs
vcase POST /events/batch "{\"events\": [{\"event_type\": \"tool\", \"inputs\": {}, \"session_id\": \"$EID\"}], \"is_single_session\": true, \"session_properties\": {\"session_id\": \"$SID\"}}" 400 'events[0].session_id'
vcase POST /events/batch '{"events": [], "session_properties": []}' 400 session_properties

# A bad request spools nothing, and session_properties without
# is_single_session spool no session (the upstream uses them only then).
wait_for 10 spool_empty
upstream_ctl '{"mode":"status","status":503}'
sleep 0.3
before=$(stat_field spool_events)
req POST /events/model/batch "{\"model_events\": [$MODEL, $(jq -c 'del(.model)' <<<"$MODEL")]}"
check_eq "a bad model batch spools none of it" "$before" "$(stat_field spool_events)"
req POST /events/batch '{"events": [{"event_type": "tool", "inputs": {}}], "session_properties": {"session_name": "ignored"}}'
check_eq "session_properties without is_single_session: 200, one record" "200 $((before + 1))" "$STATUS $(stat_field spool_events)"
check_eq "...and no session record" 0 "$(spool_dump | jq -r 'select(.kind == 2)' | wc -l)"

# Limits: max_event_bytes per session and update, as for events.
big=$(head -c 1100000 /dev/zero | tr '\0' 'a')
printf '{"session": {"inputs": {"a": "%s"}}}' "$big" >"$TMP/big_session.json"
req POST /session/start "@$TMP/big_session.json"
check_eq "a session over max_event_bytes is 413" "413 session" "$STATUS $(jget .error | cut -d: -f1)"
printf '{"event_id": "%s", "outputs": {"a": "%s"}}' "$EID" "$big" >"$TMP/big_update.json"
req PUT /events "@$TMP/big_update.json"
check_eq "an update over max_event_bytes is 413" "413 body" "$STATUS $(jget .error | cut -d: -f1)"
printf '{"model_events": [{"model": "m", "provider": "p", "messages": [], "response": {"a": "%s"}, "duration": 1, "usage": {}}]}' "$big" >"$TMP/big_model.json"
req POST /events/model/batch "@$TMP/big_model.json"
check_eq "a model event over max_event_bytes is 413" "413 model_events[0]" "$STATUS $(jget .error | cut -d: -f1)"

# Spooled kinds: session 2, update 3, model 4 (the upstream is refusing now).
req POST /session/start "{\"session\": {\"session_id\": \"$SID\"}}"
req PUT /events "{\"event_id\": \"$EID\"}"
req POST /events/model "{\"model_event\": $MODEL}"
check_eq "the three kinds are spooled as SESSION, UPDATE, MODEL_EVENT" "2 3 4" \
	"$(spool_dump | jq -r '.kind' | tail -3 | tr '\n' ' ' | sed 's/ $//')"
check_eq "the stored session is the whole upstream body" "$SID" \
	"$(spool_dump | jq -r 'select(.kind == 2) | .event.session.session_id' | tail -1)"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
