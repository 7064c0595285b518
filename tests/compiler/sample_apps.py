"""Apps built straight from the IR dataclasses, shared by the exporter tests.

`billing()` mirrors the SPEC section 3 example; `chain(n)` is a long generated app.
"""

from __future__ import annotations

from pathlib import Path

from motia.compiler.ir import App, Flow, Handler, Response, Step, Topic

PAYMENT = {
    "type": "object",
    "required": ["id", "amount", "currency"],
    "properties": {
        "id": {"type": "string", "description": "Stripe payment id"},
        "amount": {"type": "integer", "minimum": 1},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
}
INVOICE = {
    "type": "object",
    "required": ["number"],
    "properties": {"number": {"type": "string"}, "total": {"type": "number"}},
}


def billing(root: Path | str = "/project") -> App:
    """The SPEC example: one step of every type, two flows, Python and Node.js handlers."""
    steps = (
        Step(
            name="stripe-webhook",
            type="api",
            method="POST",
            path="/stripe/webhook",
            body=PAYMENT,
            responses=(Response(200, {"type": "object"}),),
            emits=("payment.received",),
            flows=("billing",),
            handler=Handler("steps/stripe_webhook.py"),
        ),
        Step(
            name="get-invoice",
            type="api",
            method="GET",
            path="/invoices/{id}",
            query={"type": "object", "properties": {"verbose": {"type": "boolean"}}},
            flows=("billing", "reporting"),
            handler=Handler("steps/get_invoice.mjs", "getInvoice", "node"),
        ),
        Step(
            name="create-invoice",
            type="event",
            subscribes=("payment.received",),
            emits=("invoice.created",),
            flows=("billing",),
            handler=Handler("steps/create_invoice.js", "handler", "node"),
        ),
        Step(
            name="nightly-cleanup",
            type="cron",
            cron="0 3 * * *",
            handler=Handler("steps/cleanup.py", "cleanup"),
        ),
        Step(
            name="accountant-review",
            type="noop",
            subscribes=("invoice.created",),
            flows=("billing",),
        ),
    )
    return App(
        name="billing",
        root=str(root),
        schemas=(("Payment", PAYMENT), ("Invoice", INVOICE)),
        topics=(
            Topic("payment.received", PAYMENT, "Payment", "Stripe confirmed a payment"),
            Topic("invoice.created", INVOICE, "Invoice"),
        ),
        flows=(
            Flow("billing", "From the payment webhook to the invoice e-mail"),
            Flow("reporting"),
        ),
        steps=steps,
    )


def chain(n: int, root: Path | str = "/project") -> App:
    """An api step feeding n-1 event steps through fan-out topics, some noop, some cron."""
    steps = [
        Step(name="s0", type="api", method="POST", path="/start", emits=("t0",),
             flows=("main",), handler=Handler("steps/s0.py"))
    ]
    topics = [Topic("t0")]
    for i in range(1, n):
        source = f"t{(i - 1) // 2}"
        kind = "noop" if i % 7 == 0 else ("cron" if i % 11 == 0 else "event")
        emits = (f"t{i}",) if kind != "noop" else ()
        subscribes = (source,) if kind != "cron" else ()
        steps.append(Step(
            name=f"s{i}", type=kind, emits=emits, subscribes=subscribes,
            cron="*/5 * * * *" if kind == "cron" else None,
            flows=("main",) if i % 3 else (),
            handler=None if kind == "noop" else Handler(f"steps/s{i}.py"),
        ))
        topics.append(Topic(f"t{i}"))
    return App(name="chain", root=str(root), topics=tuple(topics), flows=(Flow("main"),),
               steps=tuple(steps))


def example_app() -> App:
    """The repository's example application (motia.yaml at the root), compiled."""
    import pytest

    import motia.compiler

    compile_project = getattr(motia.compiler, "compile_project", None)
    if compile_project is None:  # the loader lands separately from the exporters
        pytest.skip("motia.compiler.compile_project is not available yet")
    app: App = compile_project(Path(__file__).resolve().parents[2] / "motia.yaml").app
    return app
