// otel_test.mjs: the standard OpenTelemetry JS exporter
// (@opentelemetry/exporter-trace-otlp-http, JSON, gzip) sends to tracespoold's
// /v1/traces, as OTEL_EXPORTER_OTLP_ENDPOINT would. Every span must reach the
// fake upstream's /opentelemetry/v1/traces with its trace id, attributes and
// events intact, non-ASCII text included.
//
// Environment: TS_URL, UPSTREAM_LOG, UPSTREAM_KEY. Prints ok / not ok lines.
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Resource } from "@opentelemetry/resources";
import { check, failed, spansOf, tracesLog, waitFor } from "./otlp_common.mjs";

const url = process.env.TS_URL;
const logPath = process.env.UPSTREAM_LOG;
const upstreamKey = process.env.UPSTREAM_KEY;

const exporter = new OTLPTraceExporter({
  url: `${url}/v1/traces`,
  compression: "gzip",
  headers: { Authorization: "Bearer otel-client-key" },
});
const provider = new BasicTracerProvider({
  resource: new Resource({ "service.name": "otel-test", "host.note": "façade ☃" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer("otel-test-scope", "1.2.3");

const N = 12;
const want = [];
for (let i = 0; i < N; i++) {
  const span = tracer.startSpan(`op-${i}`, {
    attributes: {
      "gen_ai.prompt": `prompt ${i}: grüße, 東京, emoji 🚀`,
      "iteration": i,
      "ratio": i / 4,
      "flag": i % 2 === 0,
      "tags": ["a", "b", `c${i}`],
    },
  });
  span.addEvent("checkpoint", { "step": i, "note": "Ünïcödé ✓" });
  want.push({ name: `op-${i}`, traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  span.end();
}
await provider.forceFlush();
await provider.shutdown();

const log = await waitFor(logPath,
  (l) => tracesLog(l).flatMap(spansOf).filter((s) => s.name.startsWith("op-")).length >= N, 20000);
const traces = tracesLog(log).filter((r) => spansOf(r).some((s) => s.name.startsWith("op-")));
check(traces.length > 0, "the exporter's spans arrive upstream at /opentelemetry/v1/traces");
check(traces.every((r) => (r.content_type ?? "").startsWith("application/json")),
  "in the request's encoding, JSON", traces.map((r) => r.content_type).join(","));
check(traces.every((r) => r.authorization === `Bearer ${upstreamKey}`),
  "with the daemon's key", traces.map((r) => r.authorization).join(","));
const spans = traces.flatMap(spansOf);
for (const w of want) {
  const s = spans.find((x) => x.spanId === w.spanId);
  if (!check(s !== undefined, `span ${w.name} arrives`)) continue;
  const i = Number(w.name.slice(3));
  check(s.traceId === w.traceId && s.name === w.name, `span ${w.name} keeps its trace id and name`,
    `${s.traceId} ${s.name}`);
  check(s.attributes["gen_ai.prompt"] === `prompt ${i}: grüße, 東京, emoji 🚀` &&
    s.attributes.iteration === i && s.attributes.ratio === i / 4 && s.attributes.flag === (i % 2 === 0) &&
    JSON.stringify(s.attributes.tags) === JSON.stringify(["a", "b", `c${i}`]),
  `span ${w.name} keeps its attributes`, JSON.stringify(s.attributes));
  check(s.events.length === 1 && s.events[0].name === "checkpoint" && s.events[0].attributes.step === i &&
    s.events[0].attributes.note === "Ünïcödé ✓", `span ${w.name} keeps its event`, JSON.stringify(s.events));
  check(s.resource["service.name"] === "otel-test" && s.resource["host.note"] === "façade ☃",
    `span ${w.name} keeps its resource`, JSON.stringify(s.resource));
}
const ids = spans.filter((s) => s.name.startsWith("op-")).map((s) => s.spanId);
check(new Set(ids).size === ids.length && ids.length === N, "each span arrives once", `${ids.length}`);

process.exit(failed === 0 ? 0 : 1);
