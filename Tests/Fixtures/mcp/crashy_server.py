"""A stdio MCP server for Orbiter's tests whose `crash` tool ends the process mid-call."""
import os
import sys

import anyio

from _sdk import Context, MCPServer

server = MCPServer("crashy")
cancelled = 0


@server.tool()
def echo(text: str) -> str:
    """Answers with its argument."""
    return text


@server.tool()
def crash(code: int = 3) -> str:
    """Exits the server process with `code` before answering."""
    sys.stderr.write("crashy: exiting on purpose\n")
    sys.stderr.flush()
    os._exit(code)


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleeps, then answers; counts the calls the client cancelled (notifications/cancelled)."""
    global cancelled
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        cancelled += 1
        raise
    return f"slept {seconds}"


@server.tool()
def cancellations() -> int:
    """How many `sleep` calls were cancelled."""
    return cancelled


@server.tool()
async def ask_client(ctx: Context) -> str:
    """Sends the client a ping, then asks it for its roots (a request it does not serve)."""
    await ctx.session.send_ping()
    try:
        await ctx.session.list_roots()
        return "ping answered; roots/list answered"
    except Exception as error:  # the client's JSON-RPC error
        return f"ping answered; roots/list refused: {error}"


if __name__ == "__main__":
    server.run("stdio")
