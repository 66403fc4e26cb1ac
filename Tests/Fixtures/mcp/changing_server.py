"""A stdio MCP server for Orbiter's tests whose tool list changes while it runs."""
from _sdk import Context, MCPServer

server = MCPServer("changing")


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool called `name` (it answers with its own name), then notifies tools/list_changed."""

    def added() -> str:
        return f"I am {name}"

    server.add_tool(added, name=name, description=f"Added at run time as {name}")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


if __name__ == "__main__":
    server.run("stdio")
