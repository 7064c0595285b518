"""The 2-hop chain as Celery tasks, for bench/broker.py (its worker imports this module).

Configured like the Motia bus for a fair comparison: RabbitMQ broker, persistent
messages, publisher confirms, acks after the task ran (acks_late), no result backend.
The last hop appends its end-to-end latency to a Redis list the benchmark reads.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

AMQP_URL = os.environ.get("MOTIA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("MOTIA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
HOP1, HOP2 = "bench.celery.hop1", "bench.celery.hop2"

app = Celery("bench_chain", broker=AMQP_URL)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=4,
    broker_transport_options={"confirm_publish": True},
    task_routes={"bench.hop1": {"queue": HOP1}, "bench.hop2": {"queue": HOP2}},
    worker_hijack_root_logger=False,
)
_redis = redis.Redis.from_url(REDIS_URL)


@app.task(name="bench.hop1")  # type: ignore[untyped-decorator]
def hop1(t0: float, key: str) -> None:
    hop2.apply_async((t0, key), queue=HOP2)


@app.task(name="bench.hop2")  # type: ignore[untyped-decorator]
def hop2(t0: float, key: str) -> None:
    _redis.rpush(key, time.time() - t0)
