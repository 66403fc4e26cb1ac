#!/usr/bin/env bash
# Sets up Orbiter on a Debian machine: installs the system libraries it needs (only those
# missing) and builds the release binary at .build/release/orbiter. Safe to run again.
#   scripts/setup.sh --tools   also installs the MCP servers of the examples (mcp-server-time,
#                              mcp-server-git, the `mcp` SDK) into the virtualenv .venv-tools/
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
orbiter_install_packages
if [ "${1:-}" = "--tools" ]; then
  python=$(orbiter_python_tools)
  echo "orbiter: MCP servers ready: $python -m mcp_server_time" >&2
fi
echo "orbiter: building the release binary (the first build takes several minutes)" >&2
orbiter_build_release --product orbiter
echo "orbiter: ready: $(pwd)/.build/release/orbiter" >&2
