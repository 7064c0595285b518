"""GET /orders/{id}: the order as stored, 404 when there is none."""


async def handler(req, ctx):
    order = await ctx.state.get("orders", req.params["id"])
    if order is None:
        return {"status": 404, "body": {"error": f"no order {req.params['id']}"}}
    return {"status": 200, "body": order}
