"""Delivery: how an event (or a cron tick) reaches a step's handler, as one pipeline.

- base.py        a `Delivery`, the `Middleware` and `Invoker` protocols, the outcomes a
                 middleware raises (`Skip`, `Defer`, `Reject`)
- pipeline.py    the ordered middlewares of a step, composed once (the extension point)
- policy.py      what every ending means: retry with backoff, defer, dead letter
- validate.py    data that breaks its topic's schema is a dead letter, never an attempt
- idempotency.py a completed key never runs again; claims; completion marks
- leases.py      short leases with owner tokens, renewed while held
- invoke.py      the terminal: run the handler, then publish its emits
- keys.py        business keys read from an event's data or a request
- answers.py     an API step's first answer per idempotency key
- ticks.py       cron ticks through the same pipeline and policy (dead letters, replay)
- log.py         the log lines of retries, deferrals and dead letters (a hooks observer)

Every bus (memory, RabbitMQ) and the cron loop run the same pipeline and the same policy;
hooks (runner/hooks.py) observe what happens, they never decide.

Extension points (flow control): a rule is a middleware added in
`pipeline.middlewares_for`, after the claim (before the terminal invoke). It may wait without an
attempt or a worker slot (`raise Defer(delay, reason)`: the bus's `_send_to` re-delivers
it after `delay`, durably on RabbitMQ through a TTL queue per delay), skip a delivery
(`raise Skip(reason)`, counted as handled), and hold per-key slots or locks in the shared
store as `leases.LeaseKeeper` leases (owner tokens, renewed while held, free within
seconds of a holder's death); `StateStore.incr` keeps counters. `Hooks.after_defer`
reports every wait.
"""
