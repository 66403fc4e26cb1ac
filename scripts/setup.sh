#!/usr/bin/env bash
# Sets up Orbiter on a Debian machine: installs the system libraries it needs (only those
# missing) and builds the release binary at .build/release/orbiter. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
orbiter_install_packages
echo "orbiter: building the release binary (the first build takes several minutes)" >&2
orbiter_build_release --product orbiter
echo "orbiter: ready: $(pwd)/.build/release/orbiter" >&2
