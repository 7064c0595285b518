"""Every day at midnight: announce how many greetings were written so far."""


async def handler(ctx):
    count = await ctx.state.get("stats", "greetings") or 0
    await ctx.emit({"topic": "greetings.counted", "data": {"count": count}})
    ctx.logger.info("greetings counted", {"count": count})
