"""Marks the order paid and sends the receipt (here: a log line and a state record)."""


async def handler(payment, ctx):
    order_id = payment["order_id"]
    if await ctx.state.get("orders", order_id) is not None:
        # One atomic change of the stored order: a get-modify-set here could undo a
        # change another step made to the same order in between.
        await ctx.state.update("orders", order_id, [
            {"set": "status", "value": "paid"},
            {"append": "history", "value": {"status": "paid", "amount": payment["amount"]}},
        ])
    await ctx.state.set("receipts", order_id, payment)
    await ctx.streams.orders.set(order_id, "status", {"status": "paid"})
    await ctx.emit({"topic": "receipt.sent", "data": payment})
    ctx.logger.info("receipt sent", {"order": order_id})
