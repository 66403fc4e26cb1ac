"""A streamable HTTP MCP server for Orbiter's tests, answering requests as SSE streams.

Usage: python http_server.py PORT [--exit-on-eof]
  --exit-on-eof  exit when stdin ends (the tests keep it open, so the server dies with them)
"""
import asyncio
import os
import sys
import threading

from pydantic import BaseModel

from _sdk import Context, MCPServer, ToolError

server = MCPServer("docs")


class Sum(BaseModel):
    sum: int


@server.tool()
def search(query: str) -> str:
    """Search the documents for a query."""
    return f"results for {query}: intro.md, setup.md"


@server.tool()
def add(a: int, b: int) -> Sum:
    """Add two integers (structured output)."""
    return Sum(sum=a + b)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def fail() -> str:
    """Always fails (the result has isError: true)."""
    raise ToolError("the index is offline")


@server.tool()
async def chatty(ctx: Context) -> str:
    """Sends a log notification on the answer's stream before answering."""
    await ctx.report_progress(1, 2, "halfway")
    return "done talking"


@server.tool()
def headers(ctx: Context) -> str:
    """Tells the authorization header the request came with."""
    request = ctx.request_context.request
    return request.headers.get("authorization", "none") if request is not None else "none"


def exit_on_eof() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    if "--exit-on-eof" in sys.argv:
        threading.Thread(target=exit_on_eof, daemon=True).start()
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]), json_response=False)
