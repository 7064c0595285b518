"""POST /greetings: accept a name, hand it to the writer, answer 202 with the id."""

import uuid

from motia_types import (
    Greeting,
    RequestGreetingContext,
    RequestGreetingRequest,
    RequestGreetingResult,
)


async def handler(req: RequestGreetingRequest, ctx: RequestGreetingContext) -> RequestGreetingResult:
    greeting: Greeting = {"id": uuid.uuid4().hex[:12], "name": req.body["name"]}
    await ctx.emit({"topic": "greeting.requested", "data": greeting})
    ctx.logger.info("greeting requested", greeting)
    return {"status": 202, "body": greeting}
