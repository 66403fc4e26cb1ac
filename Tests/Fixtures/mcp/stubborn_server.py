"""A stdio MCP server for Orbiter's tests that does not exit when its stdin closes and, with
--with-child, has a child process in its process group: what a badly behaved server leaves behind.

Its `child_pid` tool tells the child's process id (0 without a child)."""
import subprocess
import sys
import threading

from _sdk import MCPServer

server = MCPServer("stubborn")
child = subprocess.Popen(["sleep", "1000"]) if "--with-child" in sys.argv else None


@server.tool()
def child_pid() -> int:
    """The process id of the server's child."""
    return child.pid if child else 0


if __name__ == "__main__":
    # A non-daemon thread keeps the process alive after the server loop ends at end of input.
    threading.Thread(target=lambda: threading.Event().wait()).start()
    server.run("stdio")
