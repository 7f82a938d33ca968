// tracer_test.mjs: the honeyhive SDK's own tracer (HoneyHiveTracer, as a
// user's service runs it) with its serverUrl set to tracespoold's listen_tcp:
// a chain with a nested tool. The fake upstream must receive the session
// start, then the spans at /opentelemetry/v1/traces as protobuf with the
// daemon's key, then the enrichment.
//
// Environment: TS_URL, UPSTREAM_LOG, UPSTREAM_KEY. Prints ok / not ok lines.
import { HoneyHiveTracer, enrichSpan } from "honeyhive";
import { check, failed, spansOf, tracesLog, waitFor } from "./otlp_common.mjs";

const url = process.env.TS_URL;
const logPath = process.env.UPSTREAM_LOG;
const upstreamKey = process.env.UPSTREAM_KEY;
const clientKey = "client-tracer-key";

const tracer = await HoneyHiveTracer.init({
  apiKey: clientKey,
  project: "tracer-test",
  serverUrl: url,
  sessionName: "tracer session",
  source: "tracer-test",
  disableBatch: true,
});
check(typeof tracer.sessionId === "string" && tracer.sessionId.length === 36,
  "HoneyHiveTracer.init starts a session through the daemon", tracer.sessionId);

const lookup = tracer.traceTool(function lookup(query) {
  enrichSpan({ metadata: { note: "naïve café ✓ 日本", hits: 3 } });
  return `found: ${query}`;
});
const answer = tracer.traceChain(async function answer(question) {
  const found = lookup(question);
  return `${found}!`;
});
const result = await tracer.trace(() => answer("where is the spool?"));
check(result === "found: where is the spool?!", "the traced chain returns its value", result);
await tracer.flush();
await tracer.enrichSession({ metadata: { finished: true } });

const log = await waitFor(logPath, (l) => {
  const spans = tracesLog(l).flatMap(spansOf);
  return spans.some((s) => s.name.includes("answer")) && spans.some((s) => s.name.includes("lookup")) &&
    l.some((r) => r.method === "PUT" && r.body?.event_id === tracer.sessionId);
}, 20000);

const traces = tracesLog(log);
check(traces.length > 0, "spans arrive upstream at /opentelemetry/v1/traces");
check(traces.every((r) => (r.content_type ?? "").startsWith("application/x-protobuf")),
  "as protobuf, the tracer's encoding", traces.map((r) => r.content_type).join(","));
check(traces.every((r) => r.authorization === `Bearer ${upstreamKey}`),
  "with the daemon's key, not the client's", traces.map((r) => r.authorization).join(","));

const spans = traces.flatMap(spansOf);
const chain = spans.find((s) => s.name.includes("answer"));
const tool = spans.find((s) => s.name.includes("lookup"));
check(chain !== undefined && tool !== undefined, "both the chain's and the tool's span arrive",
  spans.map((s) => s.name).join(","));
if (chain && tool) {
  check(tool.traceId === chain.traceId && /^[0-9a-f]{32}$/.test(chain.traceId),
    "the tool's span is in the chain's trace", `${tool.traceId} ${chain.traceId}`);
  check(tool.parentSpanId === chain.spanId, "the tool's span is the chain's child",
    `${tool.parentSpanId} vs ${chain.spanId}`);
  const meta = JSON.stringify(tool.attributes);
  check(meta.includes("naïve café ✓ 日本"), "non-ASCII attribute text arrives intact", meta.slice(0, 300));
  check(tool.attributes["traceloop.association.properties.session_id"] === tracer.sessionId ||
    meta.includes(tracer.sessionId), "the span carries the tracer's session", meta.slice(0, 300));
}

const sessIdx = log.findIndex((r) => r.path === "/session/start");
const firstSpan = log.findIndex((r) => r.path === "/opentelemetry/v1/traces");
check(sessIdx >= 0 && sessIdx < firstSpan, "the session start reaches the upstream before the spans",
  `session at ${sessIdx}, first spans at ${firstSpan}`);
const upd = log.find((r) => r.method === "PUT" && r.path === "/events" &&
  r.body?.event_id === tracer.sessionId);
check(upd !== undefined && upd.body?.metadata?.finished === true,
  "the session's enrichment arrives as PUT /events", JSON.stringify(upd?.body ?? null).slice(0, 200));
const seen = new Set();
const dups = spans.filter((s) => (seen.has(s.spanId) ? true : (seen.add(s.spanId), false)));
check(dups.length === 0, "each span arrives once", dups.map((s) => s.name).join(","));

process.exit(failed === 0 ? 0 : 1);
