"""Flow control: a step's `flow:` rules, each a middleware of the delivery pipeline.

    order -> validate -> idempotency -> debounce -> concurrency -> rate -> invoke

- sequence.py     per-key sequence numbers taken when an event is published (order, debounce)
- order.py        one delivery per key at a time, in publish order, through retries
- debounce.py     a burst of one key runs once, with its last event
- concurrency.py  at most `limit` deliveries of one key run at once (leases as slots)
- rate.py         at most `limit` starts of one key per window (expiring window counters)
- waiting.py      how many events wait on each rule now on this replica (a hooks observer)
- gauge.py        ... and on every replica: each publishes its own to the store, with a TTL
- _wait.py        the few delays a waiting event is put back for; the key of a delivery

Nothing is ever dropped: an event a rule holds back is deferred (`Defer`), so it waits in
the bus (a TTL queue on RabbitMQ, a timer on the memory bus) without an attempt and
without a worker slot, and other keys keep flowing. Counters, slots and locks live in the
shared state store, so the limits hold across replicas; slots and locks are leases with
owner tokens (delivery/leases.py), free within seconds of a holder's death.
"""
