"""Every hour: publish the revenue figures for the finance team."""


async def handler(ctx):
    stats = await ctx.state.get_group("stats")
    report = {"revenue": stats.get("revenue", 0), "orders": stats.get("orders", 0)}
    await ctx.emit({"topic": "report.ready", "data": report})
    ctx.logger.info("report ready", report)
