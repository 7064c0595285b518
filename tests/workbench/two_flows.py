"""The two-flow app of the Workbench tests: a payment webhook and a chat.

A product manager's first look at the Workbench (issue 15) was on an app like this one:
two flows with descriptions, a ten-second cron step, state shared between steps, and a
step that dead-letters the "unlucky" payment of 13 so replays can be tried.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

YAML = """\
version: 1
app: {app}
schemas:
  Payment:
    type: object
    required: [id, amount]
    additionalProperties: false
    properties:
      id: {type: string, minLength: 1}
      amount: {type: integer, minimum: 1, description: Amount in cents}
  Message:
    type: object
    required: [room, text]
    properties:
      room: {type: string}
      text: {type: string, minLength: 1}
topics:
  payment.received: {schema: Payment, description: Stripe confirmed a payment}
  message.posted: {schema: Message, description: Someone wrote in a room}
flows:
  payments: {description: From Stripe's webhook to the ledger}
  chat: {description: Messages posted in rooms and kept as each room's history}
steps:
  stripe-webhook:
    type: api
    method: POST
    path: /webhooks/stripe
    body: Payment
    emits: [payment.received]
    flows: [payments]
    description: Receives Stripe's payment notifications
    handler: steps/webhook.py
  record-payment:
    type: event
    subscribes: [payment.received]
    retries: 0
    flows: [payments]
    state: {writes: [ledger]}
    description: Writes each payment into the ledger
    handler: steps/record.py
  settle-ledger:
    type: cron
    cron: "*/10 * * * * *"
    flows: [payments]
    state: {reads: [ledger]}
    description: Totals the ledger
    handler: steps/settle.py
  post-message:
    type: api
    method: POST
    path: /rooms/{room}/messages
    emits: [message.posted]
    flows: [chat]
    description: Posts a message to a room
    handler: steps/post.py
  store-message:
    type: event
    subscribes: [message.posted]
    flows: [chat]
    state: {writes: [rooms]}
    description: Appends the message to the room's history
    handler: steps/store.py
"""

FILES = {
    "steps/webhook.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "payment.received", "data": req.body})
            return {"status": 202, "body": {"ok": True}}
    """,
    "steps/record.py": """
        async def handler(data, ctx):
            if data["amount"] == 13:
                raise ValueError("unlucky amount 13")
            await ctx.state.set("ledger", data["id"], data["amount"])
    """,
    "steps/settle.py": """
        async def handler(ctx):
            ledger = await ctx.state.get_group("ledger")
            ctx.logger.info("ledger total", {"total": sum(ledger.values())})
    """,
    "steps/post.py": """
        async def handler(req, ctx):
            await ctx.emit({"topic": "message.posted",
                            "data": {"room": req.params["room"], "text": req.body["text"]}})
            return {"status": 201, "body": {"posted": True}}
    """,
    "steps/store.py": """
        async def handler(data, ctx):
            await ctx.state.set("rooms", data["room"], data["text"])
    """,
}


def write_two_flows(root: Path, app: str = "twoflows") -> Path:
    """Write the project under `root`; returns its motia.yaml."""
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    source = root / "motia.yaml"
    source.write_text(YAML.replace("{app}", app))
    return source
