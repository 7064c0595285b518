"""A chat project for the stream tests: Python and Node.js steps writing one stream."""

from __future__ import annotations

CHAT_YAML = """
    version: 1
    app: {app}
    schemas:
      Message:
        type: object
        required: [text]
        additionalProperties: false
        properties: {{text: {{type: string}}, n: {{type: integer}}}}
    streams:
      messages: {{schema: Message, description: The messages of a room}}
    {auth}
    steps:
      post:
        type: api
        method: POST
        path: /rooms/{{room}}/messages/{{id}}
        streams: [messages]
        handler: steps/post.py
      post-js:
        type: api
        method: POST
        path: /js/rooms/{{room}}/messages/{{id}}
        streams: [messages]
        handler: steps/post.js
      remove:
        type: api
        method: DELETE
        path: /rooms/{{room}}/messages/{{id}}
        streams: [messages]
        handler: steps/remove.py
      try-write:
        type: api
        method: POST
        path: /try/{{stream}}
        handler: steps/try_write.py
"""

CHAT_FILES = {
    "steps/post.py": """
        async def handler(req, ctx):
            room, id_ = req.params["room"], req.params["id"]
            try:
                await ctx.streams.messages.set(room, id_, req.body)
            except Exception as exc:
                return {"status": 400, "body": {"type": type(exc).__name__, "message": str(exc)}}
            if req.query.get("typing"):
                await ctx.streams.messages.send(room, {"type": "typing", "data": {"by": "bot"}})
            return {"status": 200, "body": await ctx.streams.messages.get(room, id_)}
    """,
    "steps/post.js": """
        exports.handler = async (req, ctx) => {
          const { room, id } = req.params;
          await ctx.streams.messages.set(room, id, req.body);
          const group = await ctx.streams.messages.getGroup(room);
          await ctx.streams['messages'].send(room, { type: 'seen', data: { id } });
          return { status: 200, body: { group } };
        };
    """,
    "steps/remove.py": """
        def handler(req, ctx):  # a plain def handler: the calls return the values
            ctx.streams.messages.delete(req.params["room"], req.params["id"])
            return {"status": 204}
    """,
    "steps/try_write.py": """
        async def handler(req, ctx):
            try:
                await ctx.streams[req.params["stream"]].set("g", "i", {"text": "x"})
            except Exception as exc:
                return {"status": 400, "body": {"type": type(exc).__name__, "message": str(exc)}}
            return {"status": 200}
    """,
}

AUTH_LINE = "streams_auth: steps/auth_stream.{ext}"

AUTH_FILES = {
    "steps/auth_stream.py": """
        async def handler(req, ctx):
            sub = req.subscription
            if req.query.get("key") != "let-me-in":
                return False
            if sub["group"] == "secret":
                return {"allowed": False, "reason": f"no access to {sub['group']}"}
            return True
    """,
    "steps/auth_stream.js": """
        exports.handler = async (req, ctx) => {
          const sub = req.subscription;
          if (req.query.key !== 'let-me-in') return false;
          if (sub.group === 'secret') return { allowed: false, reason: `no access to ${sub.group}` };
          return true;
        };
    """,
}


def chat_project(app: str, auth: bool = False, auth_language: str = "py"
                 ) -> tuple[str, dict[str, str]]:
    """The chat project's motia.yaml and files; with `auth`, a `streams_auth` handler in
    `auth_language` ("py" or "js") that wants `?key=let-me-in` and refuses group "secret"."""
    files = {**CHAT_FILES, **(AUTH_FILES if auth else {})}
    auth_line = AUTH_LINE.format(ext=auth_language) if auth else ""
    return CHAT_YAML.format(app=app, auth=auth_line), files
