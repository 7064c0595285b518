"""Every day at midnight: announce how many greetings were written so far."""

from motia_types import CountGreetingsContext


async def handler(ctx: CountGreetingsContext) -> None:
    count = await ctx.state.get("stats", "greetings") or 0
    await ctx.emit({"topic": "greetings.counted", "data": {"count": count}})
    ctx.logger.info("greetings counted", {"count": count})
