"""The official MCP SDK's high-level server class: `MCPServer` in mcp 2, `FastMCP` in mcp 1."""
try:
    from mcp.server.mcpserver import Context, MCPServer
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context, FastMCP as MCPServer

__all__ = ["Context", "MCPServer"]
