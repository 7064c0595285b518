"""GET /greetings/{id}: the stored greeting, or 404 while it is not written yet."""

from motia_types import GetGreetingContext, GetGreetingRequest, GetGreetingResult


async def handler(req: GetGreetingRequest, ctx: GetGreetingContext) -> GetGreetingResult:
    greeting = await ctx.state.get("greetings", req.params["id"])
    if greeting is None:
        return {"status": 404, "body": {"error": "no such greeting (yet)"}}
    return {"status": 200, "body": greeting}
