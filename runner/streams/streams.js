// Motia streams in the browser: no build step, no dependencies. Served at /__motia/streams.js.
//
//   <script src="/__motia/streams.js"></script>
//   const client = new MotiaStreams();                 // same origin; or MotiaStreams(url)
//   const order = client.subscribe('orders', 'o-42', (items, change) => render(items));
//   order.close();
//
// One WebSocket carries every subscription. On a drop the client reconnects (growing
// pause, up to 5 s) and resumes each subscription from the last version it saw: the
// server sends what was missed, or a fresh snapshot when that is too far back.
(function (root) {
  'use strict';

  function MotiaStreams(url, options) {
    if (!(this instanceof MotiaStreams)) return new MotiaStreams(url, options);
    options = options || {};
    const base = url || root.location.origin;
    const ws = base.replace(/^http/, 'ws').replace(/\/$/, '') + '/__motia/streams';
    this.url = options.query ? ws + '?' + new URLSearchParams(options.query) : ws;
    this.subs = new Map();
    this.pause = 100;
    this.closed = false;
    this.onstatus = options.onstatus || function () {};
    this._open();
  }

  MotiaStreams.prototype._open = function () {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.pause = 100;
      this.onstatus('open');
      this.subs.forEach((sub) => this._send(sub, sub.started ? sub.version : null));
    };
    socket.onmessage = (event) => this._route(JSON.parse(event.data));
    socket.onclose = (event) => {
      this.onstatus('closed', event.code, event.reason);
      if (this.closed) return;
      setTimeout(() => this._open(), this.pause);
      this.pause = Math.min(this.pause * 2, 5000);
    };
  };

  MotiaStreams.prototype._send = function (sub, since) {
    if (this.socket.readyState !== 1) return;
    const body = { stream: sub.stream, group: sub.group };
    if (sub.id != null) body.id = sub.id;
    if (since != null) body.since = since;
    this.socket.send(JSON.stringify({ subscribe: body }));
  };

  /** Subscribe to a group (or one item when `id` is given); `onchange(items, frame)`. */
  MotiaStreams.prototype.subscribe = function (stream, group, id, onchange, onerror) {
    if (typeof id === 'function') { onerror = onchange; onchange = id; id = null; }
    const key = JSON.stringify([stream, group, id == null ? null : id]);
    const sub = { stream, group, id: id == null ? null : id, items: {}, version: 0, seen: new Set(),
      started: false, onchange: onchange || function () {}, onerror: onerror || function () {} };
    this.subs.set(key, sub);
    this._send(sub, null);
    const client = this;
    return {
      get items() { return sub.items; },
      get version() { return sub.version; },
      close() {
        client.subs.delete(key);
        if (client.socket.readyState === 1) {
          client.socket.send(JSON.stringify({ unsubscribe: { stream, group, id: sub.id } }));
        }
      },
    };
  };

  MotiaStreams.prototype.close = function () {
    this.closed = true;
    this.socket.close();
  };

  MotiaStreams.prototype._route = function (frame) {
    if (frame.error) {
      const r = frame.subscribe || {};
      const sub = this.subs.get(JSON.stringify([r.stream, r.group, r.id == null ? null : r.id]));
      if (sub) sub.onerror(frame.error);
      return;
    }
    const own = (id) => this.subs.get(JSON.stringify([frame.stream, frame.group, id]));
    if (frame.op === 'snapshot' || frame.op === 'resume' || frame.op === 'unsubscribed') {
      apply(own(frame.id == null ? null : frame.id), frame);
      return;
    }
    apply(own(null), frame);
    if (frame.id != null) apply(own(frame.id), frame);
  };

  function apply(sub, frame) {
    if (!sub) return;
    if (frame.op === 'snapshot') {
      sub.items = {};
      (frame.items || []).forEach((item) => { sub.items[item.id] = item.data; });
      sub.version = frame.version || 0;
      sub.started = true;
    } else if (frame.op === 'resume' || frame.op === 'unsubscribed') {
      return;
    } else {
      if (sub.seen.has(frame.version)) return;  // already seen (another subscription got it too)
      sub.seen.add(frame.version);
      if (sub.seen.size > 4096) sub.seen.delete(sub.seen.values().next().value);
      sub.version = Math.max(sub.version, frame.version);
      if (frame.op === 'create' || frame.op === 'update') sub.items[frame.id] = frame.data;
      else if (frame.op === 'delete') delete sub.items[frame.id];
    }
    sub.onchange(sub.items, frame);
  }

  root.MotiaStreams = MotiaStreams;
  if (typeof module !== 'undefined' && module.exports) module.exports = MotiaStreams;
})(typeof window !== 'undefined' ? window : globalThis);
