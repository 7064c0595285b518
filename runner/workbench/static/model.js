// The app as the page sees it: steps, topics, flows and schemas from /__motia/api/app,
// normalised so every view reads the same shape whatever container the plan used
// (lists or mappings), plus the diagram's nodes and edges.

const asList = (value) => {
  if (!value) return [];
  if (Array.isArray(value)) return value;
  return Object.entries(value).map(([name, item]) => ({ name, ...(item || {}) }));
};

function normaliseResponses(responses) {
  if (!responses) return [];
  if (Array.isArray(responses)) {
    return responses.map((r) => (Array.isArray(r) ? { status: r[0], schema: r[1] } : r));
  }
  return Object.entries(responses).map(([status, schema]) => ({ status: Number(status), schema }));
}

function normaliseHandler(handler) {
  if (!handler) return null;
  if (typeof handler === "string") {
    const [path, fn] = handler.split(":");
    return { path, function: fn || "handler", language: /\.[cm]?js$/.test(path) ? "node" : "python" };
  }
  return { function: "handler", language: "python", ...handler };
}

function normaliseStep(raw) {
  return {
    name: raw.name,
    type: raw.type,
    description: raw.description || "",
    flows: raw.flows || [],
    emits: raw.emits || [],
    subscribes: raw.subscribes || [],
    streams: raw.streams || [],
    handler: normaliseHandler(raw.handler),
    timeout: raw.timeout,
    retries: raw.retries,
    backoff: raw.backoff,
    workers: raw.workers,
    concurrency: raw.concurrency,
    memory: raw.memory,
    idempotency: raw.idempotency || null,
    flow_control: raw.flow_control || null,
    method: raw.method ? String(raw.method).toUpperCase() : null,
    path: raw.path || null,
    body: raw.body || null,
    query: raw.query || null,
    responses: normaliseResponses(raw.responses),
    cron: raw.cron || null,
    timezone: raw.timezone || null,
  };
}

function normaliseSchemas(schemas) {
  if (!schemas) return {};
  if (Array.isArray(schemas)) return Object.fromEntries(schemas.map((pair) => [pair[0], pair[1]]));
  return { ...schemas };
}

function validLayout(data) {
  return data && Array.isArray(data.nodes) && Array.isArray(data.edges) ? data : null;
}

/** The page's model of the app, from the /__motia/api/app answer. */
export function buildModel(payload) {
  const plan = (payload && payload.plan) || {};
  const steps = asList(plan.steps).map(normaliseStep);
  const topics = asList(plan.topics).map((t) => ({
    name: t.name, schema: t.schema || null, schemaName: t.schema_name || null, description: t.description || "",
  }));
  const known = new Set(topics.map((t) => t.name));
  for (const step of steps) {
    for (const name of [...step.emits, ...step.subscribes]) {
      if (!known.has(name)) {
        known.add(name);
        topics.push({ name, schema: null, schemaName: null, description: "" });
      }
    }
  }
  const flows = asList(plan.flows).map((f) => (typeof f === "string" ? { name: f, description: "" } : f));
  const model = {
    name: plan.name || plan.app || "app",
    steps, topics, flows,
    schemas: normaliseSchemas(plan.schemas),
    layout: validLayout(payload && payload.layout),
    layouts: Object.fromEntries(Object.entries((payload && payload.layouts) || {})
      .map(([flow, data]) => [flow, validLayout(data)]).filter(([, data]) => data)),
    step: (name) => steps.find((st) => st.name === name) || null,
    topic: (name) => topics.find((t) => t.name === name) || null,
    emitters: (topic) => steps.filter((st) => st.emits.includes(topic)),
    subscribers: (topic) => steps.filter((st) => st.subscribes.includes(topic)),
  };
  return model;
}

export const stepId = (name) => `step:${name}`;
export const topicId = (name) => `topic:${name}`;
export const streamId = (name) => `stream:${name}`;

/** The second line of a step's box in the diagram (as compiler/layout.py words it). */
export function sublabel(step) {
  if (step.type === "api") return `${step.method || ""} ${step.path || ""}`.trim();
  if (step.type === "cron") return `cron ${step.cron || ""}`;
  return step.type === "noop" ? "noop" : "";
}

/** A one-line summary of what starts a step, for labels and lists. */
export function trigger(step) {
  switch (step.type) {
    case "api": return `${step.method || "?"} ${step.path || ""}`.trim();
    case "cron": return `cron ${step.cron || ""}${step.timezone ? ` (${step.timezone})` : ""}`;
    case "event": return step.subscribes.length ? `on ${step.subscribes.join(", ")}` : "event";
    default: return "drawn only, never runs";
  }
}

/**
 * The diagram of the steps `filter` keeps: step and topic nodes, emits and subscribes edges.
 * A topic is drawn when a kept step emits or receives it (every topic when `everyTopic`).
 */
export function diagramGraph(model, filter = () => true, everyTopic = false) {
  const nodes = [];
  const edges = [];
  const kept = model.steps.filter(filter);
  const topicNames = new Set();
  for (const step of kept) {
    nodes.push({ id: stepId(step.name), kind: "step", type: step.type, label: step.name, sub: sublabel(step),
      trigger: trigger(step) });
    step.emits.forEach((t) => topicNames.add(t));
    step.subscribes.forEach((t) => topicNames.add(t));
  }
  for (const topic of model.topics) {
    if (!everyTopic && !topicNames.has(topic.name)) continue;
    nodes.push({ id: topicId(topic.name), kind: "topic", type: "topic", label: topic.name, sub: "" });
  }
  const streamNames = new Set(kept.flatMap((step) => step.streams || []));
  for (const name of streamNames) {
    nodes.push({ id: streamId(name), kind: "stream", type: "stream", label: name, sub: "" });
  }
  for (const step of kept) {
    (step.streams || []).forEach((t) => edges.push({ source: stepId(step.name), target: streamId(t), kind: "writes" }));
    step.emits.forEach((t) => edges.push({ source: stepId(step.name), target: topicId(t), kind: "emits" }));
    step.subscribes.forEach((t) => edges.push({ source: topicId(t), target: stepId(step.name), kind: "subscribes" }));
  }
  return { nodes, edges };
}

/** Human words for a few common cron shapes; anything else is shown as written. */
export function describeCron(expr) {
  if (!expr) return "";
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) return "";
  const [min, hour, dom, mon, dow] = parts;
  const every = /^\*\/(\d+)$/;
  const num = /^\d+$/;
  const rest = dom === "*" && mon === "*" && dow === "*";
  if (rest && hour === "*" && every.test(min)) return `every ${min.match(every)[1]} minutes`;
  if (rest && hour === "*" && min === "*") return "every minute";
  if (rest && hour === "*" && num.test(min)) return `every hour at minute ${min}`;
  if (rest && num.test(hour) && num.test(min)) {
    return `every day at ${hour.padStart(2, "0")}:${min.padStart(2, "0")}`;
  }
  return "";
}
