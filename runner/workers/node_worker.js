'use strict';
// The Node.js step worker: `node node_worker.js CONFIG_JSON`.
//
// One process per worker of one step. It loads only that step's handler file (CommonJS
// through require, ES modules through import()), then serves invocations from the host
// over the socket whose descriptor is in $MOTIA_WORKER_FD (default 3); PROTOCOL.md
// describes the frames. stdout and stderr belong to the handler: the host turns them
// into log lines. Plain modern JavaScript, no dependencies, Node.js 20 or newer.

const fs = require('fs');
const net = require('net');
const path = require('path');
const { pathToFileURL } = require('url');

// message types: keep in sync with _protocol.py (tests check PROTOCOL.md lists them)
const READY = 'ready';
const FATAL = 'fatal';
const RESULT = 'result';
const ERROR = 'error';
const CANCELLED = 'cancelled';
const LOG = 'log';
const CALL = 'call';
const INVOKE = 'invoke';
const REPLY = 'reply';
const CANCEL = 'cancel';
const SHUTDOWN = 'shutdown';
const TOPICS = 'topics';

const OP_EMIT = 'emit';
const OP_STATE_GET = 'state.get';
const OP_STATE_SET = 'state.set';
const OP_STATE_DELETE = 'state.delete';
const OP_STATE_GET_GROUP = 'state.get_group';
const OP_STATE_CLEAR = 'state.clear';
const OP_STATE_INCR = 'state.incr';
const OP_STATE_UPDATE = 'state.update';
const OP_STATE_LIST = 'state.list';
const OP_STREAM_SET = 'streams.set';
const OP_STREAM_GET = 'streams.get';
const OP_STREAM_DELETE = 'streams.delete';
const OP_STREAM_GET_GROUP = 'streams.get_group';
const OP_STREAM_SEND = 'streams.send';
const OP_NEXT = 'next';

const EXIT_OK = 0;
const EXIT_LOAD_FAILED = 3;
const EXIT_PROTOCOL = 4;
const PROTOCOL_VERSION = 2;
const BATCH = 16;
const MAX_FRAME = 256 * 1024 * 1024;
const MAX_EVENT_ID = 200;

class EmitError extends Error {
  constructor(message) { super(message); this.name = 'EmitError'; }
}
class StateError extends Error {
  constructor(message) { super(message); this.name = 'StateError'; }
}
class StreamError extends Error {
  constructor(message) { super(message); this.name = 'StreamError'; }
}
class MotiaError extends Error {
  constructor(message) { super(message); this.name = 'MotiaError'; }
}
const REPLY_ERRORS = { EmitError, StateError, StreamError, TypeError, RangeError };

// --- framing --------------------------------------------------------------------------------

let sock = null;
let out = [];
let flushScheduled = false;

function send(message) {
  sendText(JSON.stringify(message));
}

function sendText(text) {
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  out.push(header, body);
  if (out.length >= 2 * BATCH) {  // a full batch goes now: the host starts on it while we go on
    flush();
    return;
  }
  if (!flushScheduled) {
    flushScheduled = true;
    process.nextTick(() => { flushScheduled = false; flush(); });  // this tick's frames: one write
  }
}

function flush() {
  if (out.length === 0 || sock === null || sock.destroyed) { out = []; return; }
  const data = out.length === 2 ? Buffer.concat(out, out[0].length + out[1].length) : Buffer.concat(out);
  out = [];
  sock.write(data);
}

// Bytes of an incomplete frame, kept as a list of chunks: joined only once the frame is
// complete (joining on every chunk made a 10 MB payload cost seconds).
let chunks = [];
let buffered = 0;
let needed = 4;

function onData(chunk) {
  chunks.push(chunk);
  buffered += chunk.length;
  if (buffered < needed) return;
  const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
  chunks = [];
  buffered = 0;
  needed = 4;
  let pos = 0;
  while (buf.length - pos >= 4) {
    const size = buf.readUInt32BE(pos);
    if (size > MAX_FRAME) return protocolError(`frame of ${size} bytes is over the limit`);
    if (pos + 4 + size > buf.length) {
      needed = 4 + size;
      break;
    }
    let message;
    try {
      message = JSON.parse(buf.toString('utf8', pos + 4, pos + 4 + size));
    } catch (e) {
      return protocolError(`frame is not JSON: ${e.message}`);
    }
    pos += 4 + size;
    dispatch(message);
  }
  if (pos < buf.length) {
    chunks.push(buf.subarray(pos));
    buffered = buf.length - pos;
  }
}

function dispatch(message) {
  switch (message.type) {
    case INVOKE: return invoke(message);
    case REPLY: return reply(message);
    case CANCEL: return cancel(message.id);
    case SHUTDOWN: return drain();
    case TOPICS: return setTopics(message.schemas);
    default: return protocolError(`unknown message type ${JSON.stringify(message.type)}`);
  }
}

function protocolError(text) {
  process.stderr.write(`motia node worker: protocol error: ${text}\n`);
  stop(EXIT_PROTOCOL);
}

// --- the context a handler sees ------------------------------------------------------------

let nextCid = 0;
const calls = new Map();  // cid -> {resolve, reject}

function call(id, op, args) {
  const promise = new Pending((resolve, reject) => {
    const cid = ++nextCid;
    try {
      send({ type: CALL, id, cid, op, args });
    } catch (e) {
      const Cls = op === OP_EMIT ? EmitError : op.startsWith('streams.') ? StreamError : StateError;
      reject(new Cls(`ctx.${op}: the value is not JSON: ${e.message}`));
      return;
    }
    calls.set(cid, { resolve, reject });
  });
  return track(id, promise, op === OP_NEXT ? 'next()' : `ctx.${op}()`);
}

// --- a forgotten await ------------------------------------------------------------------------
//
// Every ctx call returns a Pending: a Promise that notes when anything (await, .then,
// .catch, Promise.all) subscribes to it. When an invocation ends, a call nobody awaited is
// a warning naming the step and the handler's file:line: `if (ctx.state.get(...) === null)`
// is never true, and a forgotten `await ctx.state.set(...)` races the next request.

class Pending extends Promise {
  static get [Symbol.species]() { return Promise; }  // what .then returns is a plain Promise
  then(onFulfilled, onRejected) {
    this._awaited = true;
    return super.then(onFulfilled, onRejected);
  }
}

function track(id, promise, what) {
  const ctx = running.get(id);
  if (ctx === undefined) return promise;
  const site = {};
  Error.captureStackTrace(site, track);  // formatted only if the warning is ever written
  ctx._pending.push({ promise, what, site });
  return promise;
}

function callSite(site) {
  const lines = String(site.stack || '').split('\n').slice(1);
  for (const line of lines) {
    if (line.includes(__filename)) continue;
    const m = /\(?((?:file:\/\/)?[^()\s]+):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (m) return `${path.relative(process.cwd(), m[1].replace(/^file:\/\//, ''))}:${m[2]}`;
  }
  return '?';
}

function warnForgotten(ctx) {
  for (const { promise, what, site } of ctx._pending) {
    if (promise._awaited) continue;
    ctx.logger._log('warn', `step '${stepName}': ${what} at ${callSite(site)} was never awaited (did you forget await?)`, null);
  }
  ctx._pending = [];
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
}

// The first Promise in a result (the value, its body, the body's fields), or null.
function findThenable(value) {
  if (isThenable(value)) return value;
  if (value === null || typeof value !== 'object') return null;
  for (const inner of [value.body, ...(value.body && typeof value.body === 'object' ? Object.values(value.body) : [])]) {
    if (isThenable(inner)) return inner;
  }
  return null;
}

function reply(message) {
  const waiter = calls.get(message.cid);
  if (waiter === undefined) return;
  calls.delete(message.cid);
  if (message.ok) {
    waiter.resolve(message.value === undefined ? null : message.value);
  } else {
    const error = message.error || {};
    const Cls = REPLY_ERRORS[error.type] || MotiaError;
    waiter.reject(new Cls(error.message || 'the host rejected the call'));
  }
}

class State {
  constructor(id) { this._id = id; }
  get(group, key) { return call(this._id, OP_STATE_GET, [group, key]); }
  set(group, key, value) { return call(this._id, OP_STATE_SET, [group, key, value === undefined ? null : value]); }
  delete(group, key) { return call(this._id, OP_STATE_DELETE, [group, key]); }
  getGroup(group) { return call(this._id, OP_STATE_GET_GROUP, [group]); }
  clear(group) { return call(this._id, OP_STATE_CLEAR, [group]); }
  incr(group, key, by = 1) { return call(this._id, OP_STATE_INCR, [group, key, by]); }
  // ops: [{set|merge|increment|append|remove: path, value?, by?}], applied atomically
  update(group, key, ops) { return call(this._id, OP_STATE_UPDATE, [group, key, ops]); }
  // one page of the group in key order: {items: [{key, value}], cursor}
  list(group, options = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      return Promise.reject(new TypeError(
        `ctx.state.list(group, {prefix, limit, cursor}): the options must be an object, got ${JSON.stringify(options)}`));
    }
    const { prefix = null, limit = 100, cursor = null } = options;
    return call(this._id, OP_STATE_LIST, [group, prefix, limit, cursor]);
  }
}

// ctx.streams.<name>: items pushed to subscribed clients (ctx.streams['chat-log'] for any name)
class Stream {
  constructor(id, name) { this._id = id; this.name = name; }
  set(group, id, data) { return call(this._id, OP_STREAM_SET, [this.name, group, id, data === undefined ? null : data]); }
  get(group, id) { return call(this._id, OP_STREAM_GET, [this.name, group, id]); }
  delete(group, id) { return call(this._id, OP_STREAM_DELETE, [this.name, group, id]); }
  getGroup(group) { return call(this._id, OP_STREAM_GET_GROUP, [this.name, group]); }
  send(group, event) { return call(this._id, OP_STREAM_SEND, [this.name, group, event === undefined ? null : event]); }
}

function streamsOf(id) {
  return new Proxy({}, {
    get(_, name) { return typeof name === 'string' && name !== 'then' ? new Stream(id, name) : undefined; },
  });
}

// ctx.logger: `info(msg, fields)`, and printf-style `info('order %s', id)` as console.log
// formats it (fields may follow the substituted values). A logging call never throws.
const util = require('util');
const PLACEHOLDER = /%[sdifjoOc]/g;

function isPlainObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function logLine(msg, args) {
  let data = null;
  let rest = args;
  const text = typeof msg === 'string' ? msg : msg instanceof Error ? (msg.stack || String(msg)) : util.inspect(msg);
  const wanted = typeof msg === 'string' ? (msg.match(PLACEHOLDER) || []).length : 0;
  if (rest.length > wanted && isPlainObject(rest[rest.length - 1])) {
    data = rest[rest.length - 1];
    rest = rest.slice(0, -1);
  } else if (rest.length === 1 && wanted === 0 && rest[0] !== undefined) {
    data = rest[0] instanceof Error ? { error: rest[0].message, traceback: rest[0].stack || '' } : rest[0];
    rest = [];
  }
  const line = rest.length > 0 || wanted > 0 ? util.format(text, ...rest) : text;
  return [line, data];
}

class Logger {
  constructor(id) { this._id = id; }
  _log(level, msg, data) {
    const message = { type: LOG, id: this._id, level, msg: String(msg), data: data === undefined ? null : data };
    try {
      send(message);
    } catch (e) {  // circular or BigInt data: send it as text rather than lose the line
      try {
        message.data = util.inspect(data);
        send(message);
      } catch (_) { /* nothing left to try: never fail the handler */ }
    }
  }
  _line(level, msg, args) {
    let line;
    try {
      line = logLine(msg, args);
    } catch (e) {
      line = [`${String(msg)} (the log call failed: ${e && e.message})`, null];
    }
    this._log(level, line[0], line[1]);
  }
  debug(msg, ...args) { this._line('debug', msg, args); }
  info(msg, ...args) { this._line('info', msg, args); }
  warn(msg, ...args) { this._line('warn', msg, args); }
  warning(msg, ...args) { this._line('warn', msg, args); }
  error(msg, ...args) { this._line('error', msg, args); }
  critical(msg, ...args) { this._line('critical', msg, args); }
}

class Context {
  constructor(id, ids) {
    this._id = id;
    this._abort = null;
    this.traceId = ids.trace_id || '';
    this.eventId = ids.event_id || '';
    this.attempt = ids.attempt || 1;
    this.topic = ids.topic === undefined ? null : ids.topic;
    this.state = new State(id);
    this.logger = new Logger(id);
    this._streams = null;
    this._emits = [];  // [topic, data as JSON text or null once rejected, id?, delay s?], in call order
    this._pending = [];  // the calls made so far, to warn about those never awaited
  }

  emit(event) {
    if (event === null || typeof event !== 'object' || typeof event.topic !== 'string') {
      throw new TypeError(`ctx.emit takes {topic: string, data}, got ${JSON.stringify(event)}`);
    }
    return emit(this, event.topic, event.data === undefined ? null : event.data, event.id, event.delay);
  }

  get streams() {
    if (this._streams === null) this._streams = streamsOf(this._id);
    return this._streams;
  }

  /** An AbortSignal aborted when the host cancels this invocation (after its timeout). */
  get signal() {
    if (this._abort === null) this._abort = new AbortController();
    return this._abort.signal;
  }
}

// --- ctx.emit --------------------------------------------------------------------------------
//
// The host sends the schemas of the topics this step emits (`topics`). An emit whose data
// the compiled check below calls valid is kept with its invocation and returned with the
// result: no round trip. Anything else (an undeclared topic, a schema keyword the check
// does not know, data it is not sure of) is asked of the host, which answers with
// jsonschema's full list of errors; the host also re-checks every emit of a result.

let checks = new Map();  // topic -> check, or null: ask the host

function setTopics(schemas) {
  checks = new Map();
  for (const [topic, schema] of Object.entries(schemas || {})) {
    checks.set(topic, schema === null ? () => true : compileCheck(schema));
  }
}

// `delay` of ctx.emit in seconds, as _protocol.emit_delay reads it (motia.yaml's durations:
// "30s", "5m", "2h", "1d", "500ms", or a number of seconds); throws EmitError naming the
// accepted forms, with the same words as the Python worker.
const DURATION = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$/;
const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const MAX_DELAY_SECONDS = 365 * 86400;
const DELAY_FORMS = 'a duration such as "30s", "5m", "2h" or "1d" (units ms, s, m, h, d), or a number of seconds';
const shown = (value) => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value));

function emitDelay(topic, value) {
  let seconds = null;
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) seconds = value;
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value);
    if (match) seconds = Number(match[1]) * UNIT_SECONDS[match[2]];
  }
  if (seconds === null) {
    throw new EmitError(`ctx.emit('${topic}'): delay must be ${DELAY_FORMS} from 0, got ${shown(value)}`);
  }
  if (seconds > MAX_DELAY_SECONDS) {
    throw new EmitError(`ctx.emit('${topic}'): delay ${shown(value)} is longer than the limit of 365 days; publish nearer the time, or store the date and check it from a cron step`);
  }
  return seconds;
}

// `id` (optional) becomes the emitted event's id: a string of 1 to MAX_EVENT_ID characters;
// `delay` (optional) publishes it that much later (seconds on the wire, after the id).
function emit(ctx, topic, data, id, delay) {
  let text;
  try {
    text = JSON.stringify(data);
  } catch (e) {
    return Promise.reject(new EmitError(`ctx.emit('${topic}'): the data is not JSON: ${e.message}`));
  }
  if (text === undefined) text = 'null';  // a function or a symbol: JSON has no such value
  const entry = [topic, text];
  if (id !== undefined && id !== null) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_EVENT_ID) {
      return Promise.reject(new EmitError(`ctx.emit('${topic}'): id must be a non-empty string of at most ${MAX_EVENT_ID} characters, got ${JSON.stringify(id)}`));
    }
    entry.push(id);
  }
  if (delay !== undefined && delay !== null) {
    let seconds;
    try {
      seconds = emitDelay(topic, delay);
    } catch (e) {
      return Promise.reject(e);
    }
    if (entry.length === 2) entry.push(null);
    entry.push(seconds);
  }
  ctx._emits.push(entry);
  const check = checks.get(topic);
  if (check && check(JSON.parse(text))) return track(ctx._id, Pending.resolve(null), `ctx.emit('${topic}')`);  // judged as the host will see it
  const asked = call(ctx._id, OP_EMIT, [{ topic, data: JSON.parse(text), id: entry[2] === undefined ? null : entry[2], delay: delay === undefined ? null : delay }]);
  asked.then(null, () => { entry[1] = null; });
  const tracked = ctx._pending[ctx._pending.length - 1];
  if (tracked !== undefined && tracked.promise === asked) tracked.what = `ctx.emit('${topic}')`;
  asked._awaited = false;  // our own .then above is not the handler awaiting it
  return asked;
}

// A port of _validation_fast.py: sure only when valid. Returns a function of a value that
// is true only when draft 2020-12 calls the value valid, or null when the schema uses a
// keyword (or a keyword value) not handled here. Values come from JSON.parse, so every
// value is plain JSON.
const DRAFT = 'https://json-schema.org/draft/2020-12/schema';
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly']);
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const TYPES = {
  null: (x) => x === null,
  boolean: (x) => typeof x === 'boolean',
  integer: (x) => Number.isInteger(x),
  number: (x) => typeof x === 'number',
  string: (x) => typeof x === 'string',
  array: (x) => Array.isArray(x),
  object: isObject,
};
const has = (x, name) => Object.prototype.hasOwnProperty.call(x, name);

class Unsupported extends Error {}

function compileCheck(schema) {
  try {
    if (isObject(schema) && (schema.$schema === undefined || schema.$schema === DRAFT)) {
      const rest = { ...schema };
      delete rest.$schema;
      return compileSchema(rest);
    }
    if (schema === true) return () => true;
  } catch (e) {
    if (!(e instanceof Unsupported) && !(e instanceof RangeError)) throw e;
  }
  return null;
}

function compileSchema(schema) {
  if (schema === true) return () => true;
  if (!isObject(schema)) throw new Unsupported();
  const parts = [];
  for (const [key, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(key)) continue;
    const make = KEYWORDS[key];
    if (make === undefined || !has(KEYWORDS, key)) throw new Unsupported(key);
    parts.push(make(value, schema));
  }
  if (parts.length === 0) return () => true;
  if (parts.length === 1) return parts[0];
  return (x) => parts.every((part) => part(x));
}

function codePoints(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function count(kind, compare) {
  return (value) => {
    if (!Number.isInteger(value) || value < 0) throw new Unsupported();
    if (kind === 'string') return (x) => typeof x !== 'string' || compare(codePoints(x), value);
    return (x) => !Array.isArray(x) || compare(x.length, value);
  };
}

function bound(compare) {
  return (value) => {
    if (typeof value !== 'number') throw new Unsupported();
    return (x) => typeof x !== 'number' || compare(x, value);
  };
}

const KEYWORDS = {
  type(value) {
    const names = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && has(TYPES, n))) throw new Unsupported();
    const tests = names.map((n) => TYPES[n]);
    return tests.length === 1 ? tests[0] : (x) => tests.some((t) => t(x));
  },
  properties(value) {
    if (!isObject(value)) throw new Unsupported();
    const props = Object.entries(value).map(([name, sub]) => [name, compileSchema(sub)]);
    return (x) => !isObject(x) || props.every(([name, sub]) => !has(x, name) || sub(x[name]));
  },
  required(value) {
    if (!Array.isArray(value) || !value.every((n) => typeof n === 'string')) throw new Unsupported();
    return (x) => !isObject(x) || value.every((name) => has(x, name));
  },
  additionalProperties(value, schema) {
    if (has(schema, 'patternProperties')) throw new Unsupported();
    const declared = has(schema, 'properties') ? schema.properties : {};
    if (!isObject(declared)) throw new Unsupported();
    const known = new Set(Object.keys(declared));
    if (value === false) return (x) => !isObject(x) || Object.keys(x).every((k) => known.has(k));
    const sub = compileSchema(value);
    return (x) => !isObject(x) || Object.keys(x).every((k) => known.has(k) || sub(x[k]));
  },
  items(value, schema) {
    if (has(schema, 'prefixItems')) throw new Unsupported();
    if (value === false) return (x) => !Array.isArray(x) || x.length === 0;
    const sub = compileSchema(value);
    return (x) => !Array.isArray(x) || x.every(sub);
  },
  minLength: count('string', (n, v) => n >= v),
  maxLength: count('string', (n, v) => n <= v),
  minItems: count('array', (n, v) => n >= v),
  maxItems: count('array', (n, v) => n <= v),
  minimum: bound((x, v) => x >= v),
  maximum: bound((x, v) => x <= v),
  exclusiveMinimum: bound((x, v) => x > v),
  exclusiveMaximum: bound((x, v) => x < v),
};

// --- invocations ---------------------------------------------------------------------------

let handler = null;
let kind = 'event';
let stepName = '?';
let middleware = false;  // a middleware gets next() as its third argument
const running = new Map();  // id -> Context
let draining = false;

// An API request as a handler sees it: headers looked up in any case, `rawBody` the exact
// bytes received (a Buffer made on first use from the wire form, see PROTOCOL.md).
function request(payload) {
  const req = payload || {};
  const headers = req.headers || {};
  req.headers = new Proxy(headers, {
    get(target, name) { return typeof name === 'string' ? target[name.toLowerCase()] : target[name]; },
    has(target, name) { return (typeof name === 'string' ? name.toLowerCase() : name) in target; },
  });
  const wire = req.raw_body;
  if (wire !== undefined) delete req.raw_body;  // only then: a delete slows the object down
  let raw = null;
  Object.defineProperty(req, 'rawBody', {
    enumerable: false,
    get() {
      if (raw === null) {
        if (typeof wire === 'string') raw = Buffer.from(wire, 'utf8');
        else if (wire && typeof wire.base64 === 'string') raw = Buffer.from(wire.base64, 'base64');
        else raw = Buffer.alloc(0);
      }
      return raw;
    },
  });
  return req;
}

function invoke(message) {
  const id = message.id;
  const ctx = new Context(id, message.ctx || {});
  running.set(id, ctx);
  let result;
  try {
    if (middleware) result = handler(request(message.payload), ctx, () => call(id, OP_NEXT, []));
    else if (kind === 'api') result = handler(request(message.payload), ctx);
    else if (kind === 'cron') result = handler(ctx);
    else result = handler(message.payload === undefined ? null : message.payload, ctx);
  } catch (e) {
    failed(id, e);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    result.then((value) => succeeded(id, value), (e) => failed(id, e));
  } else {
    succeeded(id, result);
  }
}

function succeeded(id, value) {
  const ctx = running.get(id);
  if (ctx === undefined) return;  // cancelled: the host has stopped waiting
  const pending = findThenable(value);
  if (pending !== null) {
    const tracked = ctx._pending.find((entry) => entry.promise === pending);
    if (tracked !== undefined) tracked.promise._awaited = true;  // reported here instead
    const what = tracked !== undefined ? `${tracked.what} at ${callSite(tracked.site)}` : 'a Promise';
    failed(id, { name: 'ForgottenAwait', message: `the handler returned ${what}, not its value: did you forget await?`, stack: '' });
    return;
  }
  warnForgotten(ctx);
  running.delete(id);
  try {
    sendResult(id, value === undefined ? null : value, ctx._emits);
  } catch (e) {
    send({ type: ERROR, id, error: { type: 'TypeError', message: `the handler returned a value that is not JSON: ${e.message}`, traceback: '' } });
  }
  afterInvocation();
}

// The result frame with the invocation's accepted emits, their data encoded once already.
function sendResult(id, value, emits) {
  const kept = emits.filter((entry) => entry[1] !== null);
  if (kept.length === 0) {
    send({ type: RESULT, id, value });
    return;
  }
  const listed = kept.map(([topic, text, id, delay]) => `{"topic":${JSON.stringify(topic)},"data":${text}${id === undefined || id === null ? '' : `,"id":${JSON.stringify(id)}`}${delay === undefined ? '' : `,"delay":${delay}`}}`).join(',');
  const encoded = JSON.stringify(value);  // undefined for a function: null, as send() would
  const text = `{"type":"result","id":${id},"value":${encoded === undefined ? 'null' : encoded},"emits":[${listed}]}`;
  sendText(text);
}

function failed(id, e) {
  const ctx = running.get(id);
  if (ctx !== undefined) warnForgotten(ctx);
  if (!running.delete(id)) return;
  send({ type: ERROR, id, error: describeError(e) });
  afterInvocation();
}

function describeError(e) {
  if (e instanceof Error || (e && e.name === 'ForgottenAwait')) {
    return { type: e.name || (e.constructor && e.constructor.name) || 'Error', message: e.message, traceback: e.stack || '' };
  }
  return { type: 'Error', message: `the handler threw a non-Error value: ${String(e)}`, traceback: '' };
}

function cancel(id) {
  const ctx = running.get(id);
  if (ctx === undefined) return;  // already finished: its result is on the way
  // A promise cannot be stopped; it is abandoned (its later calls are refused by the
  // host) and ctx.signal tells the handler. A blocked event loop never gets here, so the
  // host kills a worker that does not confirm.
  running.delete(id);
  if (ctx._abort !== null) ctx._abort.abort(new Error('invocation timed out'));
  send({ type: CANCELLED, id });
  afterInvocation();
}

function afterInvocation() {
  if (draining && running.size === 0) stop(EXIT_OK);
}

function drain() {
  draining = true;
  afterInvocation();
}

let stopping = false;

function stop(code) {
  if (stopping) return;
  stopping = true;
  flush();
  for (const waiter of calls.values()) waiter.reject(new MotiaError('the worker is shutting down'));
  calls.clear();
  const exit = () => process.exit(code);
  if (sock !== null && !sock.destroyed) {
    sock.end(exit);
    setTimeout(exit, 1000).unref();
  } else {
    exit();
  }
}

// --- loading the handler --------------------------------------------------------------------

class LoadFailure extends Error {
  constructor(message, kind, trace) { super(message); this.kind = kind; this.trace = trace || ''; }
}

async function importFile(file) {
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href);
  try {
    return require(file);
  } catch (e) {
    if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(pathToFileURL(file).href);
    }
    throw e;
  }
}

function pickFunction(mod, name) {
  if (mod === null || mod === undefined) return undefined;
  if (typeof mod[name] === 'function') return mod[name];
  const fallback = mod.default;
  if (fallback !== undefined && fallback !== null) {
    if (typeof fallback[name] === 'function') return fallback[name];
    if (name === 'handler' && typeof fallback === 'function') return fallback;
  }
  if (name === 'handler' && typeof mod === 'function') return mod;  // module.exports = fn
  return undefined;
}

async function loadHandler(root, rel, name) {
  const file = path.resolve(root, rel);
  if (!fs.existsSync(file)) {
    throw new LoadFailure(`${rel}: handler file not found (create it, or run \`motia compile --stubs\` to generate a stub)`, 'FileNotFoundError');
  }
  let mod;
  try {
    mod = await importFile(file);
  } catch (e) {
    throw describeLoadError(e, root, rel);
  }
  const fn = pickFunction(mod, name);
  if (fn === undefined) {
    const names = Object.keys(mod || {}).filter((k) => typeof mod[k] === 'function');
    const close = names.find((k) => k.toLowerCase() === name.toLowerCase());
    const hint = close ? ` (did you mean '${close}'?)` : '';
    throw new LoadFailure(`${rel} has no function '${name}'${hint}: export it (\`exports.${name} = async (...) => {}\` or \`export async function ${name}(...)\`), or name the function in motia.yaml as \`handler: ${rel}:<function>\``, 'AttributeError');
  }
  return fn;
}

function describeLoadError(e, root, rel) {
  const stack = (e && e.stack) || String(e);
  if (e instanceof SyntaxError) {
    const first = stack.split('\n', 1)[0].replace(/^file:\/\//, '');
    const at = /^(.*):(\d+)$/.exec(first);
    const where = at ? `${path.relative(root, at[1])}:${at[2]}` : rel;
    const esm = /import statement outside a module|Unexpected token 'export'/.test(e.message)
      ? ' (this .js file uses ES module syntax: rename it to .mjs or add "type": "module" to package.json)'
      : ` (fix the file; the handler ${rel} cannot be loaded until then)`;
    return new LoadFailure(`${where}: SyntaxError: ${e.message}${esm}`, 'SyntaxError', stack);
  }
  if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
    const m = /Cannot find (?:module|package) '([^']+)'/.exec(e.message);
    const missing = m ? m[1] : '?';
    return new LoadFailure(`${rel}: cannot import module '${missing}': install it (\`npm install ${missing}\` in the project folder) or fix the import`, 'ModuleNotFoundError', stack);
  }
  const type = (e && e.name) || 'Error';
  return new LoadFailure(`${rel}: loading the module threw ${type}: ${e && e.message} (fix the code that runs at load time)`, type, stack);
}

// --- start-up --------------------------------------------------------------------------------

async function main() {
  const config = JSON.parse(process.argv[2]);
  kind = config.type;
  stepName = config.step || '?';
  middleware = Boolean(config.middleware);
  const fd = Number(process.env.MOTIA_WORKER_FD || 3);
  sock = new net.Socket({ fd, readable: true, writable: true });
  sock.on('error', () => stop(EXIT_OK));
  sock.on('close', () => stop(EXIT_OK));  // the host closed our socket or died
  process.on('SIGINT', () => {});  // Ctrl-C is the host's to handle
  process.on('SIGTERM', drain);
  try {
    handler = await loadHandler(config.root, config.handler, config.function || 'handler');
  } catch (e) {
    const failure = e instanceof LoadFailure ? e : describeLoadError(e, config.root, config.handler);
    send({ type: FATAL, error: { type: failure.kind, message: failure.message, traceback: failure.trace } });
    stop(EXIT_LOAD_FAILED);
    return;
  }
  sock.on('data', onData);
  send({ type: READY, pid: process.pid, language: 'node', protocol: PROTOCOL_VERSION, runtime: process.versions.node });
}

if (require.main === module) main();
else module.exports = { compileCheck, pickFunction };  // for the tests: the same check and the same pick the worker runs
