// A layered, left-to-right layout for the diagram, used when the server sent none
// (compiler/layout.py) or when only part of the app (one flow) is drawn.
// Sugiyama in miniature: break cycles, layer by longest path, add a waypoint for every
// layer an edge crosses, order each layer by barycentres, then place layers in columns.
// Connected parts of the graph are laid out on their own and stacked top to bottom.

const GAP_X = 64;        // between columns
const GAP_Y = 22;        // between nodes of one column
const GAP_PART = 40;     // between stacked connected parts
const MARGIN = 20;
const WAYPOINT_H = 10;

function components(nodes, edges) {
  const parent = new Map(nodes.map((n) => [n.id, n.id]));
  const find = (x) => (parent.get(x) === x ? x : (parent.set(x, find(parent.get(x))), parent.get(x)));
  for (const e of edges) parent.set(find(e.source), find(e.target));
  const groups = new Map();
  for (const n of nodes) {
    const root = find(n.id);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root).push(n);
  }
  return [...groups.values()];
}

/** Edges as a DAG: every edge closing a cycle (found by DFS in node order) is reversed. */
function acyclic(nodes, edges) {
  const out = new Map(nodes.map((n) => [n.id, []]));
  edges.forEach((e, i) => out.get(e.source).push([e.target, i]));
  const state = new Map();
  const reversed = new Set();
  const visit = (id) => {
    state.set(id, 1);
    for (const [next, i] of out.get(id)) {
      if (state.get(next) === 1) reversed.add(i);
      else if (!state.has(next)) visit(next);
    }
    state.set(id, 2);
  };
  nodes.forEach((n) => state.has(n.id) || visit(n.id));
  return edges.map((e, i) => (reversed.has(i) ? { ...e, source: e.target, target: e.source, reversed: true } : e))
    .filter((e) => e.source !== e.target);
}

function assignLayers(nodes, dag) {
  const preds = new Map(nodes.map((n) => [n.id, []]));
  const succs = new Map(nodes.map((n) => [n.id, []]));
  dag.forEach((e) => { preds.get(e.target).push(e.source); succs.get(e.source).push(e.target); });
  const layer = new Map();
  const order = [];
  const indegree = new Map(nodes.map((n) => [n.id, preds.get(n.id).length]));
  const queue = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  while (queue.length) {
    const id = queue.shift();
    order.push(id);
    layer.set(id, Math.max(0, ...preds.get(id).map((p) => layer.get(p) + 1)));
    for (const next of succs.get(id)) {
      indegree.set(next, indegree.get(next) - 1);
      if (indegree.get(next) === 0) queue.push(next);
    }
  }
  // A source (a cron job, an API) sits just left of the first node it feeds.
  for (const id of [...order].reverse()) {
    if (preds.get(id).length === 0 && succs.get(id).length) {
      layer.set(id, Math.min(...succs.get(id).map((s) => layer.get(s))) - 1);
    }
  }
  return layer;
}

function crossingSweeps(layers, preds, succs) {
  const position = new Map();
  const index = () => layers.forEach((ids) => ids.forEach((id, i) => position.set(id, i)));
  const sortBy = (ids, neighbours) => {
    const key = new Map(ids.map((id, i) => {
      const ns = neighbours.get(id).filter((n) => position.has(n));
      return [id, ns.length ? ns.reduce((a, n) => a + position.get(n), 0) / ns.length : i];
    }));
    return [...ids].sort((a, b) => key.get(a) - key.get(b));
  };
  index();
  for (let round = 0; round < 6; round++) {
    for (let l = 1; l < layers.length; l++) { layers[l] = sortBy(layers[l], preds); index(); }
    for (let l = layers.length - 2; l >= 0; l--) { layers[l] = sortBy(layers[l], succs); index(); }
  }
  return layers;
}

function placeColumns(layers, size, preds) {
  const xs = [];
  let x = 0;
  for (const ids of layers) {
    xs.push(x);
    x += Math.max(0, ...ids.map((id) => size(id).w)) + GAP_X;
  }
  const y = new Map();
  layers.forEach((ids, l) => {
    const desired = ids.map((id) => {
      const ps = (preds.get(id) || []).filter((p) => y.has(p));
      if (l === 0 || !ps.length) return null;
      return ps.reduce((a, p) => a + y.get(p) + size(p).h / 2, 0) / ps.length - size(id).h / 2;
    });
    let bottom = -Infinity;
    const placed = ids.map((id, i) => {
      const want = desired[i] ?? (bottom === -Infinity ? 0 : bottom);
      const top = Math.max(want, bottom === -Infinity ? want : bottom);
      bottom = top + size(id).h + GAP_Y;
      return top;
    });
    const wanted = desired.map((d, i) => (d === null ? placed[i] : d));
    const shift = placed.reduce((a, p, i) => a + (wanted[i] - p), 0) / Math.max(1, placed.length);
    ids.forEach((id, i) => y.set(id, placed[i] + shift));
  });
  return { xs, y };
}

function layoutPart(nodes, edges, sizeOf) {
  const dag = acyclic(nodes, edges);
  const layer = assignLayers(nodes, dag);
  const size = new Map(nodes.map((n) => [n.id, sizeOf(n)]));
  const preds = new Map(nodes.map((n) => [n.id, []]));
  const succs = new Map(nodes.map((n) => [n.id, []]));
  const routes = [];
  let dummy = 0;
  for (const e of dag) {
    const chain = [e.source];
    for (let l = layer.get(e.source) + 1; l < layer.get(e.target); l++) {
      const id = `~${dummy++}`;
      layer.set(id, l);
      size.set(id, { w: 0, h: WAYPOINT_H });
      preds.set(id, []); succs.set(id, []);
      chain.push(id);
    }
    chain.push(e.target);
    for (let i = 1; i < chain.length; i++) { succs.get(chain[i - 1]).push(chain[i]); preds.get(chain[i]).push(chain[i - 1]); }
    routes.push({ edge: e, chain });
  }
  const min = Math.min(...layer.values());
  const layers = [];
  for (const [id, l] of layer) (layers[l - min] ||= []).push(id);
  const ordered = crossingSweeps(layers.map((ids) => ids || []), preds, succs);
  const { xs, y } = placeColumns(ordered, (id) => size.get(id), preds);
  const top = Math.min(...y.values());
  const box = (id) => ({ x: xs[layer.get(id) - min], y: y.get(id) - top, ...size.get(id) });
  const boxes = new Map([...layer.keys()].map((id) => [id, box(id)]));
  const width = Math.max(...[...boxes.values()].map((b) => b.x + b.w));
  const height = Math.max(...[...boxes.values()].map((b) => b.y + b.h));
  return { boxes, routes, width, height };
}

/**
 * Positions for `graph` ({nodes, edges}); `sizeOf(node)` gives each node's {w, h}.
 * Returns {nodes: [{...node, x, y, w, h}], edges: [{...edge, points: [{x, y}, ...]}], width, height}.
 */
export function layeredLayout(graph, sizeOf) {
  const result = { nodes: [], edges: [], width: 0, height: 0 };
  let offset = MARGIN;
  const parts = components(graph.nodes, graph.edges)
    .map((nodes) => {
      const ids = new Set(nodes.map((n) => n.id));
      return { nodes, edges: graph.edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
    })
    .sort((a, b) => (b.nodes.length > 1) - (a.nodes.length > 1));
  for (const part of parts) {
    const { boxes, routes, width, height } = layoutPart(part.nodes, part.edges, sizeOf);
    const at = (id) => { const b = boxes.get(id); return { ...b, x: b.x + MARGIN, y: b.y + offset }; };
    part.nodes.forEach((n) => result.nodes.push({ ...n, ...at(n.id) }));
    for (const { edge, chain } of routes) {
      const pts = chain.map((id, i) => {
        const b = at(id);
        if (i === 0) return { x: b.x + b.w, y: b.y + b.h / 2 };
        if (i === chain.length - 1) return { x: b.x, y: b.y + b.h / 2 };
        return { x: b.x, y: b.y + b.h / 2 };
      });
      const original = edge.reversed ? { ...edge, source: edge.target, target: edge.source } : edge;
      result.edges.push({ ...original, reversed: Boolean(edge.reversed), points: edge.reversed ? pts.reverse() : pts });
    }
    result.width = Math.max(result.width, width + 2 * MARGIN);
    offset += height + GAP_PART;
  }
  result.height = offset - GAP_PART + MARGIN;
  return result;
}

/** Pairs of nodes whose boxes intersect (the layout's promise is that there are none). */
export function overlaps(nodes) {
  const found = [];
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = nodes[i], b = nodes[j];
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) found.push([a.id, b.id]);
    }
  }
  return found;
}
