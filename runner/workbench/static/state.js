// The state browser: groups, then the keys of one group, then one value as formatted
// JSON, which can be edited or deleted (deleting asks for a second click).

import { api, h, fill, jsonBlock, toast, emptyState } from "./dom.js";

const enc = encodeURIComponent;

function list(items, current, hrefOf, label) {
  return h("ul", { class: "pick-list", "aria-label": label }, items.map((item) =>
    h("li", {}, h("a", { href: hrefOf(item), "aria-current": item === current ? "true" : null,
      class: item === current ? "current" : null }, item))));
}

function valueEditor(group, key, value, onChanged) {
  const area = h("textarea", { class: "json-edit", rows: 12, spellcheck: "false", "aria-label": `New value of ${key}` });
  area.value = JSON.stringify(value, null, 2);
  const error = h("p", { class: "error-text", role: "alert" });
  const save = async () => {
    let parsed;
    try { parsed = JSON.parse(area.value); } catch (err) { error.textContent = `Not valid JSON: ${err.message}`; return; }
    try {
      await api(`/state/${enc(group)}/${enc(key)}`, { method: "PUT", json: parsed });
      toast(`Saved ${group}/${key}`);
      onChanged();
    } catch (err) { error.textContent = err.message; }
  };
  return h("div", { class: "editor" }, area, error,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: save }, "Save"),
      h("button", { type: "button", onclick: onChanged }, "Cancel")));
}

function valuePane(group, key, value, reload) {
  const pane = h("section", { class: "value-pane", "aria-label": `Value of ${key}` });
  const show = () => {
    let armed = false;
    const del = h("button", { type: "button", class: "danger", onclick: async () => {
      if (!armed) { armed = true; del.textContent = "Click again to delete"; return; }
      try {
        await api(`/state/${enc(group)}/${enc(key)}`, { method: "DELETE" });
        toast(`Deleted ${group}/${key}`);
        location.hash = `#/state/${enc(group)}`;
      } catch (err) { toast(err.message, "error"); }
    } }, "Delete");
    fill(pane,
      h("header", {}, h("h3", {}, h("code", {}, key)),
        h("span", { class: "actions" },
          h("button", { type: "button", onclick: () => fill(pane, valueEditor(group, key, value, reload)) }, "Edit"), del)),
      jsonBlock(value, { "aria-label": `Value of ${key}` }));
  };
  show();
  return pane;
}

/** Route #/state, #/state/<group>, #/state/<group>/<key>. */
export function renderState(root, route) {
  const [group, key] = route.parts;
  const filter = h("input", { type: "search", placeholder: "filter keys", "aria-label": "Filter keys" });
  const load = async () => {
    try {
      const { groups = [] } = await api("/state");
      const columns = [h("nav", { class: "col groups", "aria-label": "State groups" }, h("h3", {}, "Groups"),
        groups.length ? list(groups, group, (g) => `#/state/${enc(g)}`, "Groups")
          : emptyState("No state yet.", "Steps write state with ctx.state.set(group, key, value)."))];
      if (group) {
        const { items = {} } = await api(`/state/${enc(group)}`);
        const keys = Object.keys(items).sort();
        const keyList = h("div", {});
        const showKeys = () => fill(keyList, list(keys.filter((k) => k.includes(filter.value)), key,
          (k) => `#/state/${enc(group)}/${enc(k)}`, `Keys of ${group}`));
        filter.oninput = showKeys;
        showKeys();
        columns.push(h("nav", { class: "col keys", "aria-label": `Keys of ${group}` },
          h("h3", {}, `${group} `, h("span", { class: "muted" }, `(${keys.length})`)), filter, keyList));
        if (key !== undefined) {
          columns.push(key in items ? valuePane(group, key, items[key], load)
            : h("section", { class: "value-pane" }, emptyState(`No key ${key} in ${group}.`)));
        } else {
          columns.push(h("section", { class: "value-pane" }, h("p", { class: "muted" }, "Choose a key to see its value.")));
        }
      }
      fill(root, h("div", { class: "toolbar" }, h("h2", {}, "State"), h("span", { class: "spacer" }),
        h("button", { type: "button", onclick: load }, "Refresh")), h("div", { class: "columns" }, columns));
    } catch (err) {
      fill(root, emptyState(`Could not load state: ${err.message}`));
    }
  };
  load();
}
