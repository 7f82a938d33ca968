// sdk_test.mjs: the official honeyhive SDK, its server URL set to tracespoold's
// listen_tcp, makes every write call; then the fake upstream's log must show
// each call on its own path with the ids the daemon answered, in order.
//
// Environment: TS_URL (http://127.0.0.1:PORT), UPSTREAM_LOG (the fake
// upstream's JSON lines), UPSTREAM_KEY (the daemon's own bearer key).
// Prints TAP-style "ok - " / "not ok - " lines; exits 1 on any failure.
import { readFileSync } from "node:fs";
import { HoneyHive } from "honeyhive";

const url = process.env.TS_URL;
const logPath = process.env.UPSTREAM_LOG;
const upstreamKey = process.env.UPSTREAM_KEY;
const clientKey = "client-key-never-forwarded";
const project = "sdk-test";
const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let failed = 0;

function check(cond, name, detail) {
  if (cond) {
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}${detail !== undefined ? `: ${detail}` : ""}`);
  }
  return cond;
}

// Runs one SDK call; an exception (the SDK refusing our reply) fails it.
async function call(name, fn) {
  try {
    const res = await fn();
    check(true, `${name}: the SDK accepts the reply`);
    return res;
  } catch (e) {
    check(false, `${name}: the SDK accepts the reply`, `${e.name}: ${e.message} ${e.body ?? ""}`);
    return undefined;
  }
}

function upstreamLog() {
  let text = "";
  try {
    text = readFileSync(logPath, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l))
    .filter((r) => r.answered >= 200 && r.answered < 300);
}

async function waitFor(pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const log = upstreamLog();
    if (pred(log) || Date.now() > end) return log;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hh = new HoneyHive({
  serverURL: url,
  bearerAuth: clientKey,
  retryConfig: { strategy: "none" },
  timeoutMs: 10000,
});

const sessRes = await call("session.startSession", () =>
  hh.session.startSession({
    session: {
      project,
      sessionName: "sdk session",
      source: "sdk-test",
      inputs: { question: "What is in the context?" },
      userProperties: { user: "u1" },
    },
  }),
);
const sessionId = sessRes?.sessionId;
check(uuidV4.test(sessionId ?? ""), "startSession returns a generated v4 session_id", sessionId);

const eventRes = await call("events.createEvent", () =>
  hh.events.createEvent({
    event: {
      project,
      source: "sdk-test",
      eventName: "llm call",
      eventType: "model",
      sessionId,
      config: { model: "gpt-4o" },
      inputs: { question: "hi" },
      duration: 12.5,
    },
  }),
);
const eventId = eventRes?.eventId;
check(eventRes?.success === true && uuidV4.test(eventId ?? ""), "createEvent returns success and a v4 event_id", JSON.stringify(eventRes));

await call("events.updateEvent", () =>
  hh.events.updateEvent({
    eventId,
    metadata: { tokens: 42 },
    outputs: { answer: "hello" },
    feedback: { rating: 5 },
    duration: 15,
  }),
);

const batchRes = await call("events.createEventBatch", () =>
  hh.events.createEventBatch({
    events: [
      { project, source: "sdk-test", eventName: "retrieve", eventType: "tool", config: {}, inputs: { k: 1 }, duration: 1 },
      { project, source: "sdk-test", eventName: "answer", eventType: "chain", config: {}, inputs: { k: 2 }, duration: 2 },
    ],
    isSingleSession: true,
    sessionProperties: { sessionName: "batch session", source: "sdk-test", metadata: { run: 7 } },
  }),
);
const batchIds = batchRes?.eventIds ?? [];
const batchSession = batchRes?.sessionId;
check(
  batchRes?.success === true && batchIds.length === 2 && batchIds.every((id) => uuidV4.test(id)) && uuidV4.test(batchSession ?? ""),
  "createEventBatch returns two event_ids and the batch's session_id",
  JSON.stringify(batchRes),
);

const modelEvent = {
  project,
  model: "gpt-4o",
  provider: "openai",
  messages: [{ role: "user", content: "hi" }],
  response: { role: "assistant", content: "hello" },
  duration: 42,
  usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
  cost: 0.00008,
  eventName: "model completion",
  hyperparameters: { temperature: 0 },
};
const modelRes = await call("events.createModelEvent", () => hh.events.createModelEvent({ modelEvent }));
const modelId = modelRes?.eventId;
check(modelRes?.success === true && uuidV4.test(modelId ?? ""), "createModelEvent returns success and an event_id", JSON.stringify(modelRes));
const modelBatchRes = await call("events.createModelEventBatch", () =>
  hh.events.createModelEventBatch({ modelEvents: [modelEvent, { ...modelEvent, eventName: "second" }] }),
);
const modelBatchIds = modelBatchRes?.eventIds ?? [];
check(modelBatchRes?.success === true && modelBatchIds.length === 2, "createModelEventBatch returns two event_ids", JSON.stringify(modelBatchRes));

// A read call fails loudly: 404, saying tracespool only takes writes.
try {
  await hh.session.getSession(sessionId ?? "00000000-0000-4000-8000-000000000000");
  check(false, "session.getSession fails with a 404", "it succeeded");
} catch (e) {
  check(e.statusCode === 404 && /only accepts/.test(e.body ?? ""), "session.getSession fails with a 404 saying tracespool only accepts writes", `${e.statusCode} ${e.body}`);
}

// The upstream: everything arrives, each call on its own path.
const log = await waitFor((l) => l.some((r) => r.path === "/events/model/batch" && r.body.model_events.some((m) => m.event_id === modelBatchIds[1])), 20000);
const indexOf = (pred) => log.findIndex(pred);

const sessIdx = indexOf((r) => r.method === "POST" && r.path === "/session/start" && r.body.session?.session_id === sessionId);
check(sessIdx >= 0, "the session start arrives on POST /session/start with the same session_id");
check(sessIdx >= 0 && log[sessIdx].body.session.session_name === "sdk session" && log[sessIdx].body.session.user_properties?.user === "u1",
  "...with the SDK's members in snake_case, intact");

const evIdx = indexOf((r) => r.path === "/events/batch" && r.body.events.some((e) => e.event_id === eventId));
const ev = evIdx >= 0 ? log[evIdx].body.events.find((e) => e.event_id === eventId) : undefined;
check(ev !== undefined && ev.session_id === sessionId && ev.event_type === "model",
  "the event arrives on POST /events/batch with the same event_id and session_id", JSON.stringify(ev));
check(sessIdx >= 0 && evIdx > sessIdx, "the session start arrives before the event", `${sessIdx} ${evIdx}`);

const upIdx = indexOf((r) => r.method === "PUT" && r.path === "/events" && r.body.event_id === eventId);
check(upIdx >= 0 && log[upIdx].body.metadata?.tokens === 42 && log[upIdx].body.duration === 15,
  "the update arrives on PUT /events with the same event_id and members");
check(upIdx > evIdx && evIdx >= 0, "the update arrives after its event", `event at ${evIdx}, update at ${upIdx}`);

const bsIdx = indexOf((r) => r.path === "/session/start" && r.body.session?.session_id === batchSession);
check(bsIdx >= 0 && log[bsIdx].body.session.session_name === "batch session" && log[bsIdx].body.session.metadata?.run === 7,
  "session_properties arrive as a session start with the batch's session_id");
const batchEvents = log.filter((r) => r.path === "/events/batch").flatMap((r) => r.body.events).filter((e) => batchIds.includes(e.event_id));
check(batchEvents.length === 2 && batchEvents.every((e) => e.session_id === batchSession),
  "both batch events arrive with their ids, in the batch's session", JSON.stringify(batchEvents.map((e) => [e.event_id, e.session_id])));
const firstBatchIdx = indexOf((r) => r.path === "/events/batch" && r.body.events.some((e) => batchIds.includes(e.event_id)));
check(bsIdx >= 0 && firstBatchIdx > bsIdx, "the batch's session start arrives before its events");

const models = log.filter((r) => r.path === "/events/model/batch").flatMap((r) => r.body.model_events);
check(models.some((m) => m.event_id === modelId && m.model === "gpt-4o" && m.event_name === "model completion"),
  "the model event arrives on POST /events/model/batch with the same event_id");
check(modelBatchIds.every((id) => models.some((m) => m.event_id === id)), "the model batch's event_ids are the ones upstream");

check(log.length > 0 && log.every((r) => r.authorization === `Bearer ${upstreamKey}`),
  "every upstream request carries the daemon's key, never the client's");

process.exit(failed === 0 ? 0 : 1);
