"""POST /orders: store the order, announce it, answer 201 with its id."""

import uuid


async def handler(req, ctx):
    order = req.body
    total = sum(item["quantity"] * item["price"] for item in order["items"])
    placed = {
        "id": uuid.uuid4().hex[:12],
        "customer": order["customer"],
        "currency": order["currency"],
        "total": total,
    }
    await ctx.state.set("orders", placed["id"], {**placed, "items": order["items"], "status": "placed"})
    await ctx.streams.orders.set(placed["id"], "status", {"status": "placed", "total": total})
    await ctx.emit({"topic": "order.placed", "data": placed})
    ctx.logger.info("order placed", {"id": placed["id"], "total": total})
    return {"status": 201, "body": placed}
