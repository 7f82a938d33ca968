// redact_test.mjs: the real SDK (events) and the real tracer (spans) send an
// e-mail address, a card number and an sk- key through tracespoold with
// redaction rules loaded. It only sends; t_redact.sh checks the spool's
// files and the upstream.
//
// Environment: TS_URL, EMAIL, CARD, APIKEY. Prints ok / not ok lines.
import { HoneyHive, HoneyHiveTracer, enrichSpan } from "honeyhive";
import { check, failed } from "./otlp_common.mjs";

const url = process.env.TS_URL;
const { EMAIL, CARD, APIKEY } = process.env;
const secret = `write to ${EMAIL}, card ${CARD}, key ${APIKEY}`;

const hh = new HoneyHive({ serverURL: url, bearerAuth: "client-key", retryConfig: { strategy: "none" } });
try {
  const res = await hh.events.createEvent({
    event: {
      project: "redact-test",
      source: "redact-test",
      eventName: "secret event",
      eventType: "chain",
      config: { note: secret },
      inputs: { question: secret },
      metadata: { user_email: EMAIL },
      duration: 1,
    },
  });
  check(res?.success === true, "the SDK's createEvent is accepted", JSON.stringify(res));
} catch (e) {
  check(false, "the SDK's createEvent is accepted", `${e.name}: ${e.message}`);
}

const tracer = await HoneyHiveTracer.init({
  apiKey: "client-key",
  project: "redact-test",
  serverUrl: url,
  sessionName: "redact session",
  source: "redact-test",
  disableBatch: true,
});
check(typeof tracer.sessionId === "string", "the tracer starts its session", tracer.sessionId);
const tool = tracer.traceTool(function lookup(question) {
  enrichSpan({ metadata: { contact: EMAIL, card: CARD, key: APIKEY } });
  return `answered: ${question}`;
});
const out = await tracer.trace(() => tool(secret));
check(typeof out === "string", "the traced tool runs");
await tracer.flush();

process.exit(failed === 0 ? 0 : 1);
