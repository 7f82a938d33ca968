// otlp_common.mjs: what the OTLP tests share: TAP-style checks, reading the
// fake upstream's log, and decoding the exports it received with the
// OpenTelemetry JS packages' own protobuf definitions (an oracle independent
// of the daemon's decoder).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = require("@opentelemetry/otlp-transformer/build/src/generated/root");
const ExportReq = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export let failed = 0;

export function check(cond, name, detail) {
  if (cond) {
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}${detail !== undefined ? `: ${detail}` : ""}`);
  }
  return cond;
}

// Every request the fake upstream answered 2xx, in arrival order.
export function upstreamLog(path) {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l))
    .filter((r) => r.answered >= 200 && r.answered < 300);
}

export async function waitFor(logPath, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const log = upstreamLog(logPath);
    if (pred(log) || Date.now() > end) return log;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hex = (b) => Buffer.from(b ?? []).toString("hex");

// An AnyValue as plain JS (protobuf message or OTLP JSON object alike).
function anyValue(v) {
  if (v == null) return undefined;
  if (v.stringValue != null) return v.stringValue;
  if (v.boolValue != null) return v.boolValue;
  if (v.intValue != null) return Number(v.intValue);
  if (v.doubleValue != null) return Number(v.doubleValue);
  if (v.arrayValue != null) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue != null) return attrs(v.kvlistValue.values);
  return undefined;
}

function attrs(kvs) {
  const o = {};
  for (const kv of kvs ?? []) o[kv.key] = anyValue(kv.value);
  return o;
}

// The spans of one upstream request: protobuf (body_b64) or OTLP JSON.
export function spansOf(rec) {
  let req;
  if ((rec.content_type ?? "").startsWith("application/x-protobuf")) {
    req = ExportReq.decode(Buffer.from(rec.body_b64 ?? "", "base64"));
    req = ExportReq.toObject(req, { longs: String, bytes: Array });
  } else {
    req = rec.body;
  }
  const out = [];
  const json = !(rec.content_type ?? "").startsWith("application/x-protobuf");
  for (const rs of req.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: json ? s.traceId : hex(s.traceId),
          spanId: json ? s.spanId : hex(s.spanId),
          parentSpanId: json ? s.parentSpanId ?? "" : hex(s.parentSpanId),
          name: s.name,
          attributes: attrs(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
          resource,
        });
      }
    }
  }
  return out;
}

export function tracesLog(log) {
  return log.filter((r) => r.method === "POST" && r.path === "/opentelemetry/v1/traces");
}
