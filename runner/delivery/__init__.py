"""Delivery: how an event (or a cron tick) reaches a step's handler, as one pipeline.

- base.py        a `Delivery`, the `Middleware` and `Invoker` protocols, the outcomes a
                 middleware raises (`Skip`, `Defer`, `Reject`)
- pipeline.py    the ordered middlewares of a step, composed once (the extension point)
- policy.py      what every ending means: retry with backoff, defer, dead letter
- validate.py    data that breaks its topic's schema is a dead letter, never an attempt
- idempotency.py a completed key never runs again; claims; completion marks
- leases.py      short leases with owner tokens, renewed while held
- invoke.py      run the handler, publish its emits
- keys.py        business keys read from an event's data or a request
- answers.py     an API step's first answer per idempotency key

Every bus (memory, RabbitMQ) and the cron loop run the same pipeline and the same policy;
hooks (runner/hooks.py) observe what happens, they never decide.
"""
