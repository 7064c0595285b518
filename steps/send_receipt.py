"""Marks the order paid and sends the receipt (here: a log line and a state record)."""


async def handler(payment, ctx):
    order = await ctx.state.get("orders", payment["order_id"])
    if order is not None:
        await ctx.state.set("orders", payment["order_id"], {**order, "status": "paid"})
    await ctx.state.set("receipts", payment["order_id"], payment)
    await ctx.streams.orders.set(payment["order_id"], "status", {"status": "paid"})
    await ctx.emit({"topic": "receipt.sent", "data": payment})
    ctx.logger.info("receipt sent", {"order": payment["order_id"]})
