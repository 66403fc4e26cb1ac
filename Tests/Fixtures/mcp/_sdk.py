"""The official MCP SDK's high-level server: `MCPServer` in mcp 2, `FastMCP` in mcp 1."""
try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context, FastMCP as MCPServer
    from mcp.server.fastmcp.exceptions import ToolError

__all__ = ["Context", "MCPServer", "ToolError"]
