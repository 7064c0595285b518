// Draws a flow as an SVG diagram, left to right: positions come from the server's
// layout (compiler/layout.py) when it covers every node drawn, else from layout.js,
// which sizes boxes the same way so both pictures look alike.
// Each node is a focusable button; choosing one calls `onSelect(id)`.

import { s } from "./dom.js";
import { layeredLayout } from "./layout.js";

// Labels use a monospace font sized so one character is at most CHAR_W pixels wide:
// compiler/layout.py sizes boxes by character count, and this keeps every label inside
// its box whatever fonts the browser has.
const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';
const NAME_FONT = `600 11.5px ${MONO}`;
const SUB_FONT = `10.5px ${MONO}`;
const CHAR_W = 7;
const KIND_LABEL = { api: "API", event: "Event", cron: "Cron", noop: "Noop", topic: "Topic", stream: "Stream", state: "State" };
const ROUND = new Set(["topic", "stream", "state"]);
let canvas = null;

function textWidth(text, font = NAME_FONT) {
  canvas ||= document.createElement("canvas").getContext("2d");
  canvas.font = font;
  return canvas.measureText(text).width;
}

/** `text` cut with an ellipsis so that it fits `width` pixels. */
function fit(text, width, font) {
  if (textWidth(text, font) <= width) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(`${text.slice(0, mid)}…`, font) <= width) lo = mid; else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/** The size of a node's box, worded and sized as compiler/layout.py does, so the
 * client-side fallback draws the same picture as the server's layout. */
export function nodeSize(node) {
  const longest = Math.max(node.label.length, (node.sub || "").length);
  const w = Math.min(240, Math.max(96, longest * CHAR_W + 28));
  if (ROUND.has(node.kind)) return { w, h: 32 };
  return { w, h: node.sub ? 48 : 36 };
}

/** Server positions for `graph` when the server layout knows every node, else null. */
function serverPositions(graph, layout) {
  if (!layout) return null;
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  const nodes = [];
  for (const node of graph.nodes) {
    const placed = byId.get(node.id);
    if (!placed || [placed.x, placed.y, placed.w, placed.h].some((v) => typeof v !== "number")) return null;
    const sub = typeof placed.sublabel === "string" ? placed.sublabel : node.sub;
    nodes.push({ ...node, sub, x: placed.x, y: placed.y, w: placed.w, h: placed.h });
  }
  const at = new Map(nodes.map((n) => [n.id, n]));
  const edges = graph.edges.map((e) => {
    const a = at.get(e.source), b = at.get(e.target);
    return { ...e, points: [{ x: a.x + a.w, y: a.y + a.h / 2 }, { x: b.x, y: b.y + b.h / 2 }] };
  });
  const back = edges.some((e) => e.points[1].x <= e.points[0].x) ? 70 : 0;
  const width = Math.max(layout.width || 0, ...nodes.map((n) => n.x + n.w + 16));
  const height = Math.max(layout.height || 0, ...nodes.map((n) => n.y + n.h + 16)) + back;
  return { nodes, edges, width, height, source: "server" };
}

/** Positions for every node of `graph`: the server's layout when it has them all, else our own. */
export function positions(graph, serverLayout) {
  return serverPositions(graph, serverLayout) || { ...layeredLayout(graph, nodeSize), source: "client" };
}

/** Boxes an edge from `a` to `b` would cross: nodes strictly between them, in its band. */
function obstacles(a, b, nodes) {
  const top = Math.min(a.y, b.y) - 6, bottom = Math.max(a.y, b.y) + 6;
  return nodes.filter((n) => n.x > a.x + 1 && n.x + n.w < b.x - 1 && n.y < bottom && n.y + n.h > top);
}

/**
 * Waypoints that take a long edge around the boxes it would cross: along a lane just
 * above or below them (whichever is nearer), entering and leaving it in the gaps.
 */
function detour(points, nodes) {
  if (points.length !== 2 || points[1].x <= points[0].x) return points;
  const [a, b] = points;
  let blocking = obstacles(a, b, nodes);
  if (!blocking.length) return points;
  const inRange = nodes.filter((n) => n.x > a.x + 1 && n.x + n.w < b.x - 1);
  const mid = (a.y + b.y) / 2;
  let above = Math.min(...blocking.map((n) => n.y)) - 12;
  let below = Math.max(...blocking.map((n) => n.y + n.h)) + 12;
  // Widen the lane until no box in the edge's span touches it.
  for (let i = 0; i < inRange.length; i++) {
    blocking = inRange.filter((n) => n.y - 6 < above && n.y + n.h + 6 > above);
    if (!blocking.length) break;
    above = Math.min(...blocking.map((n) => n.y)) - 12;
  }
  for (let i = 0; i < inRange.length; i++) {
    blocking = inRange.filter((n) => n.y - 6 < below && n.y + n.h + 6 > below);
    if (!blocking.length) break;
    below = Math.max(...blocking.map((n) => n.y + n.h)) + 12;
  }
  const lane = Math.abs(above - mid) <= Math.abs(below - mid) && above > 4 ? above : below;
  const first = Math.min(...inRange.map((n) => n.x));
  const last = Math.max(...inRange.map((n) => n.x + n.w));
  return [a, { x: (a.x + first) / 2, y: lane }, { x: (last + b.x) / 2, y: lane }, b];
}

function edgePath(points) {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1], b = points[i];
    if (b.x <= a.x) {
      // A back edge: loop below both ends rather than through the nodes between them.
      const drop = Math.max(a.y, b.y) + 60;
      d += ` C${a.x + 60},${drop} ${b.x - 60},${drop} ${b.x},${b.y}`;
    } else {
      const dx = Math.max(24, (b.x - a.x) / 2);
      d += ` C${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
    }
  }
  return d;
}

function ariaLabel(node) {
  const kind = node.kind === "step" ? `${KIND_LABEL[node.type] || node.type} step` : `${KIND_LABEL[node.kind] || node.kind}`;
  const detail = node.trigger || node.sub;
  return `${kind} ${node.label}${detail && node.kind === "step" ? `: ${detail}` : ""}`;
}

function nodeGroup(node, onSelect) {
  const g = s("g", {
    class: `node node-${node.type}`, transform: `translate(${node.x},${node.y})`, tabindex: "0",
    role: "button", "aria-label": ariaLabel(node), "data-id": node.id,
    "aria-description": node.description || null,
  });
  const choose = (event) => { event.preventDefault(); onSelect(node.id); };
  g.addEventListener("click", choose);
  g.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") choose(event); });
  const topic = ROUND.has(node.kind);
  const pad = topic ? 14 : 14;
  const inner = node.w - pad - (topic ? 12 : 8);
  // The kind sits just above the box, in the gap every layout leaves between boxes.
  g.append(s("text", { class: "node-kind", x: topic ? 10 : 2, y: -4 }, (KIND_LABEL[node.type] || node.type).toUpperCase()));
  const rx = node.kind === "state" ? 4 : topic ? node.h / 2 : 7;
  g.append(s("rect", { class: "node-box", width: node.w, height: node.h, rx }));
  if (!topic) g.append(s("rect", { class: "node-accent", x: 0.5, y: 0.5, width: 5, height: node.h - 1, rx: 2 }));
  const sub = !topic && node.sub && node.h >= 44 ? node.sub : "";
  const nameY = sub ? node.h / 2 - 3 : node.h / 2 + 4.5;
  g.append(s("text", { class: "node-name", x: pad, y: nameY }, fit(node.label, inner, NAME_FONT)));
  if (sub) g.append(s("text", { class: "node-sub", x: pad, y: node.h / 2 + 13 }, fit(sub, inner, SUB_FONT)));
  return g;
}

/**
 * An <svg> of the laid-out graph. `placed` comes from positions(); `selected` is a node id.
 * Returns the svg element; call `highlight(svg, id)` to move the selection.
 */
export function renderDiagram(placed, { onSelect, selected, label }) {
  const svg = s("svg", {
    class: "diagram", viewBox: `0 0 ${placed.width} ${placed.height}`, width: placed.width,
    height: placed.height, role: "group", "aria-label": label,
    "data-layout": placed.source,
  });
  const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9,
    markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }));
  svg.append(s("defs", {}, marker));
  const edges = s("g", { class: "edges", "aria-hidden": "true" });
  for (const e of placed.edges) {
    const toNoop = placed.nodes.find((n) => n.id === e.target)?.type === "noop";
    const others = placed.nodes.filter((n) => n.id !== e.source && n.id !== e.target);
    // Reads and writes of state and streams move data, not events: drawn dotted.
    const data = /^(state|stream):/.test(e.source) || /^(state|stream):/.test(e.target);
    edges.append(s("path", { class: `edge edge-${e.kind}${toNoop ? " edge-noop" : ""}${data ? " edge-data" : ""}`, d: edgePath(detour(e.points, others)),
      "marker-end": "url(#arrow)", "data-source": e.source, "data-target": e.target }));
  }
  const nodes = s("g", { class: "nodes" });
  placed.nodes.forEach((n) => nodes.append(nodeGroup(n, onSelect)));
  svg.append(edges, nodes);
  highlight(svg, selected);
  return svg;
}

/** Mark node `id` (and its edges) as selected in a rendered diagram. */
export function highlight(svg, id) {
  svg.querySelectorAll(".node").forEach((g) => {
    const on = g.dataset.id === id;
    g.classList.toggle("selected", on);
    g.setAttribute("aria-pressed", on ? "true" : "false");
  });
  svg.querySelectorAll(".edge").forEach((p) => {
    p.classList.toggle("hl", Boolean(id) && (p.dataset.source === id || p.dataset.target === id));
  });
}
