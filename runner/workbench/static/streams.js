// The Streams view: each stream, its groups, and one group's items live (server-sent
// events from /__motia/streams/{stream}/{group}: a snapshot, then every change).
// Routes: #/streams, #/streams/<stream>, #/streams/<stream>/<group>.

import { api, h, fill, jsonBlock, emptyState } from "./dom.js";

const enc = encodeURIComponent;

function picker(items, current, hrefOf, label) {
  return h("ul", { class: "pick-list", "aria-label": label }, items.map((item) =>
    h("li", {}, h("a", { href: hrefOf(item), "aria-current": item === current ? "true" : null,
      class: item === current ? "current" : null }, item))));
}

function liveGroup(pane, stream, group) {
  const items = new Map();
  const status = h("p", { class: "muted", role: "status" }, "connecting…");
  const body = h("div", { class: "stream-items" });
  const draw = () => fill(body, items.size === 0 ? h("p", { class: "muted" }, "no items yet") :
    [...items.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, item]) =>
      h("section", { class: "stream-item", "data-id": id },
        h("header", {}, h("code", {}, id), h("span", { class: "muted" }, ` v${item.version}`)),
        jsonBlock(item.data, { "aria-label": `Item ${id}` }))));
  fill(pane, h("header", {}, h("h3", {}, `${stream} / ${group}`)), status, body);
  const source = new EventSource(`/__motia/streams/${enc(stream)}/${enc(group)}`);
  source.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.op === "snapshot") {
      items.clear();
      for (const item of frame.items) items.set(item.id, { data: item.data, version: item.version });
      status.textContent = `live · ${frame.items.length} item(s) at version ${frame.version}`;
    } else if (frame.op === "create" || frame.op === "update") {
      items.set(frame.id, { data: frame.data, version: frame.version });
      status.textContent = `live · last change: ${frame.op} ${frame.id} (v${frame.version})`;
    } else if (frame.op === "delete") {
      items.delete(frame.id);
      status.textContent = `live · last change: delete ${frame.id} (v${frame.version})`;
    } else if (frame.op === "event") {
      status.textContent = `live · event ${frame.data.type} (v${frame.version})`;
    }
    draw();
  };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  draw();
  return () => source.close();
}

export function renderStreams(root, route) {
  const [stream, group] = route.parts;
  const pane = h("div", { class: "value-pane" });
  let stop = null;
  fill(root, h("p", { class: "muted" }, "loading streams…"));
  api("/streams").then((listing) => {
    if (!listing.streams.length) {
      fill(root, emptyState("No streams", "Declare streams under `streams:` in motia.yaml and write them with ctx.streams.<name>.set."));
      return;
    }
    const names = listing.streams.map((s) => s.name);
    const chosen = listing.streams.find((s) => s.name === stream);
    const groups = chosen ? chosen.groups : [];
    fill(root, h("div", { class: "columns" },
      picker(names, stream, (n) => `#/streams/${enc(n)}`, "Streams"),
      chosen ? picker(groups, group, (g) => `#/streams/${enc(chosen.name)}/${enc(g)}`, "Groups")
        : h("p", { class: "muted" }, "Pick a stream"),
      pane));
    if (chosen && group) stop = liveGroup(pane, chosen.name, group);
    else if (chosen) fill(pane, h("p", { class: "muted" }, chosen.description || "Pick a group"),
      h("p", { class: "muted" }, `written by: ${chosen.writers.join(", ") || "no step"} · fan-out: ${listing.fanout}`));
  }).catch((err) => fill(root, emptyState("Streams unavailable", err.message)));
  return () => { if (stop) stop(); };
}
