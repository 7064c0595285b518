// JSON Schemas for people: a field table (name, type, required, constraints,
// description; nested objects indented) and an example value generated from a schema,
// used to prefill the endpoint tester.

import { h } from "./dom.js";

const MAX_DEPTH = 6;

/** Follow a local $ref ("#/$defs/X", "#/definitions/X") against `root`. */
function deref(schema, root) {
  let current = schema;
  for (let hops = 0; current && typeof current.$ref === "string" && hops < 10; hops++) {
    if (!current.$ref.startsWith("#")) return current;
    const parts = current.$ref.slice(1).split("/").filter(Boolean)
      .map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
    let target = root;
    for (const part of parts) target = target && target[part];
    if (!target) return current;
    const { $ref, ...rest } = current;
    void $ref;
    current = { ...target, ...rest };
  }
  return current || {};
}

function typeName(schema, root) {
  const sch = deref(schema, root);
  if (sch.const !== undefined) return `constant ${JSON.stringify(sch.const)}`;
  const variants = sch.oneOf || sch.anyOf;
  if (variants) return variants.map((v) => typeName(v, root)).join(" or ");
  let type = sch.type || (sch.properties ? "object" : sch.enum ? typeof sch.enum[0] : sch.items ? "array" : "any");
  if (Array.isArray(type)) type = type.join(" or ");
  if (type === "array" && sch.items && !Array.isArray(sch.items)) type = `array of ${typeName(sch.items, root)}`;
  if (sch.format) type += ` (${sch.format})`;
  return type;
}

/** Human-readable constraints of one schema, e.g. ["at least 1", "matches ^[A-Z]{3}$"]. */
export function constraints(schema, root = schema) {
  const sch = deref(schema, root);
  const out = [];
  const json = (v) => JSON.stringify(v);
  if (sch.enum) out.push(`one of ${sch.enum.map(json).join(", ")}`);
  if (sch.minimum !== undefined) out.push(`≥ ${sch.minimum}`);
  if (sch.exclusiveMinimum !== undefined) out.push(`> ${sch.exclusiveMinimum}`);
  if (sch.maximum !== undefined) out.push(`≤ ${sch.maximum}`);
  if (sch.exclusiveMaximum !== undefined) out.push(`< ${sch.exclusiveMaximum}`);
  if (sch.multipleOf !== undefined) out.push(`multiple of ${sch.multipleOf}`);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (sch.minLength !== undefined) out.push(`at least ${plural(sch.minLength, "character")}`);
  if (sch.maxLength !== undefined) out.push(`at most ${plural(sch.maxLength, "character")}`);
  if (sch.pattern) out.push(`matches ${sch.pattern}`);
  if (sch.minItems !== undefined) out.push(`at least ${plural(sch.minItems, "item")}`);
  if (sch.maxItems !== undefined) out.push(`at most ${plural(sch.maxItems, "item")}`);
  if (sch.uniqueItems) out.push("items unique");
  if (sch.default !== undefined) out.push(`default ${json(sch.default)}`);
  if (sch.additionalProperties === false) out.push("no other fields");
  return out;
}

function rowsOf(schema, root, depth, rows) {
  const sch = deref(schema, root);
  if (depth > MAX_DEPTH) return rows;
  const required = new Set(sch.required || []);
  for (const [name, prop] of Object.entries(sch.properties || {})) {
    const child = deref(prop, root);
    rows.push({ name, depth, type: typeName(child, root), required: required.has(name),
      constraints: constraints(child, root), description: child.description || child.title || "" });
    rowsOf(child, root, depth + 1, rows);
    const items = child.items && !Array.isArray(child.items) ? deref(child.items, root) : null;
    if (items && items.properties) rowsOf(items, root, depth + 1, rows);
  }
  (sch.oneOf || sch.anyOf || []).forEach((variant, i) => {
    const v = deref(variant, root);
    if (!v.properties) return;
    rows.push({ name: `option ${i + 1}`, depth, type: typeName(v, root), required: false,
      constraints: [], description: v.description || v.title || "" });
    rowsOf(v, root, depth + 1, rows);
  });
  (sch.allOf || []).forEach((part) => rowsOf(part, root, depth, rows));
  return rows;
}

/** Flattened rows of `schema`'s fields: {name, depth, type, required, constraints, description}. */
export function schemaRows(schema) {
  return rowsOf(schema || {}, schema || {}, 0, []);
}

/** A table of `schema`'s fields, or a one-line summary for a schema without fields. */
export function fieldTable(schema, caption) {
  if (!schema) return h("p", { class: "muted" }, "No schema: any JSON is accepted.");
  const rows = schemaRows(schema);
  if (!rows.length) {
    const extra = constraints(schema);
    return h("p", { class: "schema-summary" }, `Value: ${typeName(schema, schema)}`,
      extra.length ? ` (${extra.join("; ")})` : "", schema.description ? ` — ${schema.description}` : "");
  }
  return h("div", { class: "table-scroll" }, h("table", { class: "fields" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, ["Field", "Type", "Required", "Constraints", "Description"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((row) => {
      const name = h("th", { scope: "row", class: "field-name" }, row.depth ? h("span", { class: "nest", "aria-hidden": "true" }, "↳ ") : null,
        h("code", {}, row.name));
      name.style.setProperty("--depth", row.depth);
      return h("tr", { class: `depth-${Math.min(row.depth, 6)}` }, name,
        h("td", { class: "field-type" }, row.type),
        h("td", {}, row.required ? h("span", { class: "req" }, "required") : h("span", { class: "muted" }, "optional")),
        h("td", { class: "field-constraints" }, row.constraints.join("; ")),
        h("td", {}, row.description));
    }))));
}

// --- example values -----------------------------------------------------------------

const FORMATS = {
  email: "user@example.com", uri: "https://example.com", url: "https://example.com",
  uuid: "123e4567-e89b-42d3-a456-426614174000", date: "2024-01-31", time: "12:00:00Z",
  "date-time": "2024-01-31T12:00:00Z", hostname: "example.com", ipv4: "192.0.2.1", ipv6: "2001:db8::1",
};

const CLASS_SAMPLES = { d: "1", w: "a", s: " ", D: "x", W: "-", S: "x" };

/** A string matching simple regexes: literals, classes, \d \w, groups, quantifiers; else null. */
export function sampleForPattern(pattern) {
  let i = 0;
  const src = pattern;
  const atom = () => {
    const c = src[i];
    if (c === "\\") { i += 2; const e = src[i - 1]; return CLASS_SAMPLES[e] ?? e; }
    if (c === "[") {
      const end = src.indexOf("]", i + 2);
      if (end < 0) throw new Error("class");
      const body = src.slice(i + 1, end);
      i = end + 1;
      if (body.startsWith("^")) return body.includes("x") ? "y" : "x";
      if (body[0] === "\\") return CLASS_SAMPLES[body[1]] ?? body[1];
      return body[0];
    }
    if (c === "(") {
      let depth = 0, j = i;
      for (; j < src.length; j++) { if (src[j] === "\\") j++; else if (src[j] === "(") depth++; else if (src[j] === ")" && --depth === 0) break; }
      let inner = src.slice(i + 1, j).replace(/^\?:/, "");
      i = j + 1;
      inner = inner.split("|")[0];
      return sampleForPattern(`^${inner}$`);
    }
    if (c === ".") { i++; return "x"; }
    if ("*+?{|)".includes(c)) throw new Error("syntax");
    i++;
    return c;
  };
  try {
    let out = "";
    if (src[i] === "^") i++;
    while (i < src.length) {
      if (src[i] === "$" && i === src.length - 1) break;
      if (src[i] === "|") break;
      const piece = atom();
      if (piece === null) return null;
      let times = 1;
      if (src[i] === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
        if (!m) throw new Error("quantifier");
        times = Number(m[1]);
        i += m[0].length;
      } else if (src[i] === "+") { i++; } else if (src[i] === "*" || src[i] === "?") { i++; times = 0; }
      if (src[i] === "?") i++;
      out += piece.repeat(times);
    }
    return new RegExp(pattern, "u").test(out) ? out : null;
  } catch {
    return null;
  }
}

function exampleString(sch, name) {
  if (sch.format && FORMATS[sch.format]) return FORMATS[sch.format];
  let text = null;
  if (sch.pattern) text = sampleForPattern(sch.pattern);
  if (text === null) text = name ? `example ${name}` : "example";
  if (sch.pattern && !new RegExp(sch.pattern, "u").test(text)) return text;
  if (sch.minLength && text.length < sch.minLength) text = text.padEnd(sch.minLength, "x");
  if (sch.maxLength !== undefined && text.length > sch.maxLength) text = text.slice(0, sch.maxLength);
  return text;
}

function exampleNumber(sch, integer) {
  let low = sch.minimum ?? (sch.exclusiveMinimum !== undefined ? sch.exclusiveMinimum + (integer ? 1 : 0.5) : null);
  if (typeof sch.exclusiveMinimum === "number" && low !== null && low <= sch.exclusiveMinimum) low = sch.exclusiveMinimum + (integer ? 1 : 0.5);
  const high = sch.maximum ?? (sch.exclusiveMaximum !== undefined ? sch.exclusiveMaximum - (integer ? 1 : 0.5) : null);
  let value = low ?? (high !== null ? Math.min(high, integer ? 1 : 1.5) : (integer ? 1 : 1.5));
  if (high !== null && value > high) value = high;
  if (sch.multipleOf) value = Math.ceil(value / sch.multipleOf) * sch.multipleOf;
  return integer ? Math.ceil(value) : value;
}

function firstType(sch) {
  const type = Array.isArray(sch.type) ? (sch.type.find((t) => t !== "null") || "null") : sch.type;
  if (type) return type;
  if (sch.properties || sch.required) return "object";
  if (sch.items) return "array";
  return null;
}

/** An example value that satisfies `schema` for the common cases (the endpoint tester's prefill). */
export function exampleFor(schema, root = schema, name = "", depth = 0) {
  const sch = deref(schema || {}, root);
  if (sch.const !== undefined) return sch.const;
  if (Array.isArray(sch.examples) && sch.examples.length) return sch.examples[0];
  if (sch.example !== undefined) return sch.example;
  if (sch.default !== undefined) return sch.default;
  if (Array.isArray(sch.enum) && sch.enum.length) return sch.enum[0];
  if (sch.allOf) return sch.allOf.reduce((acc, part) => {
    const v = exampleFor({ ...part }, root, name, depth + 1);
    return acc && typeof acc === "object" && v && typeof v === "object" ? { ...acc, ...v } : v;
  }, exampleFor({ ...sch, allOf: undefined }, root, name, depth + 1));
  const variants = sch.oneOf || sch.anyOf;
  if (variants && variants.length) return exampleFor(variants[0], root, name, depth + 1);
  switch (firstType(sch)) {
    case "object": {
      const out = {};
      if (depth > MAX_DEPTH) return out;
      for (const [key, prop] of Object.entries(sch.properties || {})) out[key] = exampleFor(prop, root, key, depth + 1);
      for (const key of sch.required || []) if (!(key in out)) out[key] = "example";
      return out;
    }
    case "array": {
      if (depth > MAX_DEPTH) return [];
      const items = Array.isArray(sch.prefixItems) ? sch.prefixItems.map((p) => exampleFor(p, root, name, depth + 1)) : [];
      const count = Math.max(sch.minItems || 1, items.length);
      for (let k = items.length; k < count; k++) {
        let item = exampleFor(sch.items || {}, root, name, depth + 1);
        if (sch.uniqueItems && typeof item === "number") item += k;
        else if (sch.uniqueItems && typeof item === "string" && k) item = `${item}${k}`;
        items.push(item);
      }
      return sch.maxItems !== undefined ? items.slice(0, Math.max(sch.maxItems, 0)) : items;
    }
    case "string": return exampleString(sch, name);
    case "integer": return exampleNumber(sch, true);
    case "number": return exampleNumber(sch, false);
    case "boolean": return true;
    case "null": return null;
    default: return name ? `example ${name}` : {};
  }
}
