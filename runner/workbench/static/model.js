// The app as the page sees it: steps, topics, flows and schemas from /__motia/api/app,
// normalised so every view reads the same shape whatever container the plan used
// (lists or mappings), plus the diagram's nodes and edges: steps, topics, streams and
// the state groups steps declare (`state: {reads, writes}`).

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
    stateReads: raw.state_reads || [],
    stateWrites: raw.state_writes || [],
    schedule: null,
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
  // Cron schedules in words come from the compiler (compiler/cron_words.py), via the graph.
  const graphNodes = (payload && payload.graph && payload.graph.nodes) || [];
  for (const node of graphNodes) {
    const step = node.kind === "step" && node.schedule ? steps.find((st) => st.name === node.name) : null;
    if (step) step.schedule = node.schedule;
  }
  const groups = [...new Set(steps.flatMap((st) => [...st.stateWrites, ...st.stateReads]))];
  const model = {
    name: plan.name || plan.app || "app",
    steps, topics, flows, groups,
    streams: asList(plan.streams).map((st) => ({ name: st.name, description: st.description || "", schema: st.schema || null })),
    schemas: normaliseSchemas(plan.schemas),
    layout: validLayout(payload && payload.layout),
    layouts: Object.fromEntries(Object.entries((payload && payload.layouts) || {})
      .map(([flow, data]) => [flow, validLayout(data)]).filter(([, data]) => data)),
    step: (name) => steps.find((st) => st.name === name) || null,
    topic: (name) => topics.find((t) => t.name === name) || null,
    emitters: (topic) => steps.filter((st) => st.emits.includes(topic)),
    subscribers: (topic) => steps.filter((st) => st.subscribes.includes(topic)),
    writers: (group) => steps.filter((st) => st.stateWrites.includes(group)),
    readers: (group) => steps.filter((st) => st.stateReads.includes(group)),
    streamWriters: (stream) => steps.filter((st) => st.streams.includes(stream)),
  };
  return model;
}

export const stepId = (name) => `step:${name}`;
export const topicId = (name) => `topic:${name}`;
export const streamId = (name) => `stream:${name}`;
export const stateId = (name) => `state:${name}`;

/** A cron step's schedule in words without its zone, for a diagram box. */
function scheduleShort(step) {
  return step.schedule ? step.schedule.replace(/ \([^)]*\)$/, "") : `cron ${step.cron || ""}`;
}

/** The second line of a step's box in the diagram (as compiler/layout.py words it). */
export function sublabel(step) {
  if (step.type === "api") return `${step.method || ""} ${step.path || ""}`.trim();
  if (step.type === "cron") return step.cron ? scheduleShort(step) : "cron";
  return step.type === "noop" ? "noop" : "";
}

/** A one-line summary of what starts a step, for labels and lists. */
export function trigger(step) {
  switch (step.type) {
    case "api": return `${step.method || "?"} ${step.path || ""}`.trim();
    case "cron": return step.schedule || `cron ${step.cron || ""}${step.timezone ? ` (${step.timezone})` : ""}`;
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
      trigger: trigger(step), description: step.description });
    step.emits.forEach((t) => topicNames.add(t));
    step.subscribes.forEach((t) => topicNames.add(t));
  }
  for (const topic of model.topics) {
    if (!everyTopic && !topicNames.has(topic.name)) continue;
    nodes.push({ id: topicId(topic.name), kind: "topic", type: "topic", label: topic.name, sub: "",
      description: topic.description });
  }
  const streamNames = new Set(kept.flatMap((step) => step.streams || []));
  for (const name of streamNames) {
    nodes.push({ id: streamId(name), kind: "stream", type: "stream", label: name, sub: "",
      description: (model.streams || []).find((st) => st.name === name)?.description || "" });
  }
  const groupNames = new Set(kept.flatMap((step) => [...step.stateWrites, ...step.stateReads]));
  for (const name of model.groups.filter((g) => groupNames.has(g))) {
    nodes.push({ id: stateId(name), kind: "state", type: "state", label: name, sub: "",
      description: `State group: written by ${model.writers(name).map((st) => st.name).join(", ") || "no step"}` +
        `, read by ${model.readers(name).map((st) => st.name).join(", ") || "no step"}` });
  }
  for (const step of kept) {
    (step.streams || []).forEach((t) => edges.push({ source: stepId(step.name), target: streamId(t), kind: "writes" }));
    step.stateWrites.forEach((g) => edges.push({ source: stepId(step.name), target: stateId(g),
      kind: step.stateReads.includes(g) ? "updates" : "writes" }));
    step.stateReads.filter((g) => !step.stateWrites.includes(g))
      .forEach((g) => edges.push({ source: stateId(g), target: stepId(step.name), kind: "reads" }));
    step.emits.forEach((t) => edges.push({ source: stepId(step.name), target: topicId(t), kind: "emits" }));
    step.subscribes.forEach((t) => edges.push({ source: topicId(t), target: stepId(step.name), kind: "subscribes" }));
  }
  return { nodes, edges };
}
