# Shared helpers for the scripts in this folder. Source it; do not run it.

# Installs the Debian packages Orbiter needs, only those missing. Idempotent.
orbiter_install_packages() {
  # chromium + chromium-driver: the dashboard test drives a headless browser (Selenium).
  local needed=(liblua5.4-dev libhiredis-dev libssl-dev openssl redis-server redis-tools pkg-config python3 python3-venv git chromium chromium-driver)
  local missing=()
  for p in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "orbiter: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v swift >/dev/null 2>&1; then
    echo "orbiter: 'swift' is not on PATH; install Swift 6.1 or newer (https://swift.org/install)" >&2
    return 1
  fi
}

# Installs the Debian packages of the peers' table (`scripts/bench.sh --peers`): Sidekiq, which
# brings Ruby. Only then: CI and plain bench runs never install them. Idempotent.
orbiter_install_peer_packages() {
  dpkg-query -W -f='${Status}' ruby-sidekiq 2>/dev/null | grep -q "install ok installed" && return 0
  echo "orbiter: installing ruby-sidekiq (the Sidekiq peer of bench.sh --peers)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ruby-sidekiq >/dev/null
}

# Creates the project-local virtualenv .venv-tools/ (in the current directory, the package root)
# with the MCP servers the tests and the bench run for real: the official SDK (`mcp`, for the
# fixture servers in Tests/Fixtures/mcp), mcp-server-time and mcp-server-git; for `orbiter serve`'s
# tests, requests (examples/clients/submit.py), schemathesis (the OpenAPI check) and selenium (the
# dashboard in chromium). Installs only
# what is missing; idempotent and quiet. Prints the python's path.
orbiter_python_tools() {
  local venv="$PWD/.venv-tools"
  local python="$venv/bin/python"
  local packages=(mcp mcp-server-time mcp-server-git requests schemathesis selenium)
  if [ ! -x "$python" ]; then
    local base
    base=$(command -v python3) || { echo "orbiter: python3 is not on PATH; it runs the MCP servers of the tests" >&2; return 1; }
    "$base" -m venv "$venv" >/dev/null 2>&1 || {
      echo "orbiter: cannot create $venv (on Debian: apt-get install python3-venv)" >&2; return 1; }
  fi
  local missing=()
  for p in "${packages[@]}"; do
    "$python" -m pip show -q "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "orbiter: installing ${missing[*]} into .venv-tools" >&2
    local log
    log=$(mktemp)
    if ! "$python" -m pip install -q --disable-pip-version-check "${missing[@]}" >"$log" 2>&1; then
      echo "orbiter: pip could not install ${missing[*]} into .venv-tools:" >&2
      tail -n 20 "$log" >&2
      rm -f "$log"
      return 1
    fi
    rm -f "$log"
  fi
  echo "$python"
}

# Prints a free TCP port on 127.0.0.1.
orbiter_free_port() {
  python3 - <<'PY' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
  local p
  for _ in $(seq 1 50); do
    p=$(( (RANDOM % 20000) + 30000 ))
    (echo > /dev/tcp/127.0.0.1/$p) >/dev/null 2>&1 || { echo "$p"; return 0; }
  done
  return 1
}

# Starts a private redis-server on a free loopback port; sets ORBITER_REDIS_PORT, _PIDFILE, _DIR.
orbiter_start_redis() {
  ORBITER_REDIS_DIR=$(mktemp -d /tmp/orbiter-redis.XXXXXX)
  ORBITER_REDIS_PORT=$(orbiter_free_port)
  ORBITER_REDIS_PIDFILE="$ORBITER_REDIS_DIR/redis.pid"
  redis-server --port "$ORBITER_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$ORBITER_REDIS_DIR" --daemonize yes --pidfile "$ORBITER_REDIS_PIDFILE" \
    --logfile "$ORBITER_REDIS_DIR/redis.log" --maxmemory-policy noeviction "$@"
  for _ in $(seq 1 100); do
    redis-cli -p "$ORBITER_REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "orbiter: redis-server did not start; log:" >&2
  cat "$ORBITER_REDIS_DIR/redis.log" >&2
  return 1
}

# Stops the Redis started by orbiter_start_redis.
orbiter_stop_redis() {
  if [ -n "${ORBITER_REDIS_PORT:-}" ]; then
    redis-cli -p "$ORBITER_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    [ -f "${ORBITER_REDIS_PIDFILE:-}" ] && kill "$(cat "$ORBITER_REDIS_PIDFILE")" 2>/dev/null || true
    rm -rf "${ORBITER_REDIS_DIR:-/nonexistent}"
  fi
}

# Builds release binaries with the Swift runtime linked in statically: `orbiter` then starts in
# about half the time (no dynamic relocation of the Swift libraries) and needs ~4 MiB less.
# Extra arguments go to `swift build` (e.g. --product orbiter, --scratch-path DIR).
orbiter_build_release() {
  swift build -c release --static-swift-stdlib "$@"
}
