// --- the handler API, as the Node.js worker gives it ------------------------------------

declare global {
  // Node's Buffer and AbortSignal: these merge with @types/node (or lib.dom) when the
  // project has them, and stand in for them when it does not.
  interface Buffer extends Uint8Array {}
  interface AbortSignal { readonly aborted: boolean }
}

/** What an API handler gets as `req`; `ApiRequest<Order>` when the body is an Order. */
export interface ApiRequest<Body = any> {
  /** The parsed JSON body, already checked against the step's `body:` schema. */
  body: Body;
  /** The body exactly as the client sent it: what a webhook signature is computed over. */
  rawBody: Buffer;
  /** Query parameters: a string each, or a list for one the `query:` schema makes an array. */
  query: Record<string, any>;
  /** Path parameters: `/orders/{id}` gives `req.params.id`. */
  params: Record<string, any>;
  /** Request headers, looked up case-insensitively. */
  headers: Record<string, string>;
  /** The HTTP method, upper case. */
  method: string;
  /** The request path, without the query string. */
  path: string;
}

/** What an API handler may return. */
export interface ResponseDict {
  status: number;
  body?: any;
  headers?: Record<string, string>;
}

/** What `ctx.emit` takes; published when the handler succeeds. */
export interface Emit {
  topic: string;
  data: any;
  /** The event id; default: derived from this invocation. */
  id?: string;
  /** Publish this much later, durably: a duration such as `"30s"` or `"5m"`. */
  delay?: string | number;
}

/** A path inside a value: dotted (`"address.city"`, `""` for all of it) or its segments. */
export type StatePath = string | string[];

/** One operation of `ctx.state.update`. */
export type UpdateOp =
  | { set: StatePath; value: any }
  | { merge: StatePath; value: Record<string, any> }
  | { increment: StatePath; by?: number }
  | { append: StatePath; value: any }
  | { remove: StatePath };

/** One page of `ctx.state.list`; pass `cursor` back for the next (null after the last). */
export interface StatePage<T = any> {
  items: { key: string; value: T }[];
  cursor: string | null;
}

/** `ctx.state`: JSON values by group and key, shared by every step, language and replica. */
export interface State {
  /** The value at `group`/`key`, or null. */
  get<T = any>(group: string, key: string): Promise<T | null>;
  /** Store a JSON value, replacing what was there. */
  set<T = any>(group: string, key: string, value: T): Promise<any>;
  /** Remove `group`/`key`. */
  delete(group: string, key: string): Promise<any>;
  /** Every key of `group` with its value. */
  getGroup<T = any>(group: string): Promise<Record<string, T>>;
  /** Remove every key of `group`. */
  clear(group: string): Promise<any>;
  /** Add `by` (default 1) atomically and return the new number. */
  incr(group: string, key: string, by?: number): Promise<number>;
  /** Apply `ops` atomically and return the new value. */
  update<T = any>(group: string, key: string, ops: UpdateOp[]): Promise<T | null>;
  /** One page of `group` in key order. */
  list<T = any>(group: string, options?: { prefix?: string; limit?: number; cursor?: string | null }): Promise<StatePage<T>>;
}

/** `ctx.logger`: structured lines tagged with the step, trace id and event id. */
export interface Logger {
  /** `info('order %s', id)` formats like console.log; a plain object after the values is the line's fields. */
  debug(msg: any, ...args: any[]): void;
  info(msg: any, ...args: any[]): void;
  warn(msg: any, ...args: any[]): void;
  warning(msg: any, ...args: any[]): void;
  error(msg: any, ...args: any[]): void;
  critical(msg: any, ...args: any[]): void;
}

/** One stream declared under `streams:`. */
export interface Stream<T = any> {
  set(group: string, id: string, data: T): Promise<void>;
  get(group: string, id: string): Promise<T | null>;
  delete(group: string, id: string): Promise<void>;
  getGroup(group: string): Promise<Record<string, T>>;
  /** An ephemeral event to the group's subscribers, not stored. */
  send(group: string, event: { type: string; data: any }): Promise<void>;
}

/** `ctx.streams`: one member per stream declared under `streams:`. */
export interface Streams {
  [name: string]: Stream;
}

/** What every handler gets as `ctx`; `Context<E>` when its emits are typed `E`. */
export interface Context<E = Emit> {
  /** The trace this invocation belongs to. */
  readonly traceId: string;
  /** The id of the event (or request, or tick): the same on every retry. */
  readonly eventId: string;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  /** The topic of the event being handled (null for API and cron steps). */
  readonly topic: string | null;
  readonly state: State;
  readonly logger: Logger;
  readonly streams: Streams;
  /** Aborted when the host cancels the invocation (after its timeout). */
  readonly signal: AbortSignal;
  /** Emit an event, published when the handler succeeds. */
  emit(event: E): Promise<void>;
}

/** A middleware's `next`: runs the next middleware or the handler and resolves to its response. */
export type Next = () => Promise<ResponseDict>;

/** `middleware: [steps/auth.js]`: answers itself, or returns (a change of) `await next()`. */
export type Middleware = (req: ApiRequest, ctx: Context, next: Next) => Promise<ResponseDict> | ResponseDict;

/** The context of an event handler: the same members. */
export type EventContext<E = Emit> = Context<E>;
