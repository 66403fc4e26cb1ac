#!/usr/bin/env bash
# Chaos proof that no task is lost: N tasks whose scripted model sleeps 50–500 ms, 3 workers, and
# a loop that kill -9s a random worker every few seconds and starts a new one. Midway, Redis (AOF
# on) is shut down and restarted. At the end every task must be `completed` exactly once: one
# task per submit, one result, one terminal event, none lost, none stuck. Prints the counts
# (tasks, kills, lost, duplicated); exits 1 on any loss or duplicate.
#
#   scripts/chaos.sh [N]          full run (default 2000 tasks, a kill every 3 s, a Redis restart)
#   scripts/chaos.sh --quick [N]  reduced run for CI (default 300 tasks, one kill -9 of a worker,
#                                 one Redis restart; a couple of minutes at most)
#   scripts/chaos.sh [--quick] --sentinel [N]
#                                 Redis behind Sentinel (a master, a replica, three sentinels; workers
#                                 and submitters use redis-sentinel://): instead of the restart the
#                                 master is kill -9ed midway and the replica promoted. Replication is
#                                 asynchronous, so submits acknowledged just before the kill may be lost:
#                                 they are counted and reported, not a failure; a duplicate, or a stored
#                                 task that does not complete exactly once, still fails the run.
#                                 The killed master comes back as a replica of the new one. With
#                                 ORBITER_DURABILITY=replica (workers and submitters wait for a
#                                 replica's acknowledgement) no acknowledged submit may be lost:
#                                 one lost fails the run.
#   scripts/chaos.sh [--quick] --cluster [N]
#                                 Redis Cluster (three masters with a replica each; workers and
#                                 submitters use redis-cluster://): the master holding the queue's
#                                 hash tag is kill -9ed midway and its replica takes over, then it
#                                 comes back as that replica's replica. Lost submits are counted as
#                                 with --sentinel (none allowed with ORBITER_DURABILITY=replica).
# Uses the release build (building it if needed), or the binary in $ORBITER_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
quick=0
sentinel=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
if [ "${1:-}" = "--sentinel" ]; then sentinel=1; shift; fi
cluster=0
if [ "${1:-}" = "--cluster" ]; then cluster=1; shift; fi
failover=$((sentinel + cluster))   # a master is killed and replaced (loss windows are reported, not failed)
if [ $quick -eq 1 ]; then N=${1:-300}; else N=${1:-2000}; fi
orbiter_install_packages
if [ -z "${ORBITER_BIN:-}" ]; then
  [ -x .build/release/orbiter ] || orbiter_build_release --product orbiter
fi
bin=${ORBITER_BIN:-$(pwd)/.build/release/orbiter}
queue=chaos

pids=()
sentinel_pidfiles=()
cluster_ports=()
cleanup() {
  for p in "${cluster_ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for f in "${sentinel_pidfiles[@]}"; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  [ -n "${replica_port:-}" ] && redis-cli -p "$replica_port" shutdown nosave >/dev/null 2>&1 || true
  [ -n "${old_master_port:-}" ] && redis-cli -p "$old_master_port" shutdown nosave >/dev/null 2>&1 || true
  orbiter_stop_redis
}
trap cleanup EXIT
logdir=$(mktemp -d /tmp/orbiter-chaos.XXXXXX)
if [ $sentinel -eq 1 ]; then
  # A master, a replica and three sentinels, all on loopback; the master is kill -9ed midway.
  orbiter_start_redis
  replica_port=$(orbiter_free_port)
  redis-server --port "$replica_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$logdir" --daemonize yes \
    --logfile "$logdir/replica.log" --replicaof 127.0.0.1 "$ORBITER_REDIS_PORT"
  until redis-cli -p "$replica_port" info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.1; done
  sentinel_hosts=()
  for i in 1 2 3; do
    port=$(orbiter_free_port)
    printf '%s\n' "port $port" "bind 127.0.0.1" "daemonize yes" "pidfile $logdir/sentinel-$i.pid" \
      "logfile $logdir/sentinel-$i.log" "dir $logdir" "sentinel monitor chaos 127.0.0.1 $ORBITER_REDIS_PORT 2" \
      "sentinel down-after-milliseconds chaos 500" "sentinel failover-timeout chaos 4000" >"$logdir/sentinel-$i.conf"
    redis-server "$logdir/sentinel-$i.conf" --sentinel
    sentinel_pidfiles+=("$logdir/sentinel-$i.pid")
    sentinel_hosts+=("127.0.0.1:$port")
  done
  for h in "${sentinel_hosts[@]}"; do
    until [ "$(redis-cli -p "${h#*:}" sentinel sentinels chaos 2>/dev/null | grep -cx name)" -eq 2 ]; do sleep 0.2; done
  done
  export ORBITER_REDIS_URL="redis-sentinel://$(IFS=,; echo "${sentinel_hosts[*]}")/chaos"
  echo "chaos: Redis behind Sentinel: $ORBITER_REDIS_URL"
elif [ $cluster -eq 1 ]; then
  # Six nodes on loopback (ports whose cluster bus port, +10000, is free too), three masters.
  cluster_port() {
    python3 -c 'import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 45000)
    if free(p) and free(p + 10000): print(p); break'
  }
  start_node() {
    mkdir -p "$logdir/node-$1"
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$logdir/node-$1" --daemonize yes \
      --pidfile "$logdir/node-$1/pid" --logfile "$logdir/node-$1/log" --maxmemory-policy noeviction \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 --cluster-replica-validity-factor 0
    until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.05; done
  }
  # The port of the live master serving the queue's hash tag, as node $1 sees it.
  queue_master() {
    local slot
    slot=$(redis-cli -p "$1" cluster keyslot "orbiter:$queue")
    redis-cli -p "$1" cluster nodes | python3 -c 'import sys
slot = int(sys.argv[1])
for line in sys.stdin:
    f = line.split()
    if len(f) < 9 or "master" not in f[2] or "fail" in f[2]: continue
    for r in f[8:]:
        if r.startswith("["): continue
        a, _, b = r.partition("-")
        if int(a) <= slot <= int(b or a): print(f[1].split("@")[0].rsplit(":", 1)[1])' "$slot"
  }
  cluster_ready() {
    local p
    for p in "${cluster_ports[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q cluster_state:ok || return 1
      redis-cli -p "$p" info replication 2>/dev/null | grep -Eq 'role:master|master_link_status:up' || return 1
    done
  }
  for i in 1 2 3 4 5 6; do
    port=$(cluster_port)
    start_node "$port"
    cluster_ports+=("$port")
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 1 --cluster-yes >"$logdir/create.log"
  until cluster_ready; do sleep 0.2; done
  ORBITER_REDIS_PORT=$(queue_master "${cluster_ports[0]}")   # the checks below read the queue's master
  export ORBITER_REDIS_URL="redis-cluster://127.0.0.1:${cluster_ports[0]},127.0.0.1:${cluster_ports[1]}"
  echo "chaos: Redis Cluster: $ORBITER_REDIS_URL (queue '$queue' on the master at port $ORBITER_REDIS_PORT)"
else
  orbiter_start_redis --appendonly yes --appendfsync always
  export ORBITER_REDIS_URL="redis://127.0.0.1:$ORBITER_REDIS_PORT"
fi

start_worker() {
  "$bin" start worker --queue $queue --concurrency 16 --lease 2 --heartbeat-ttl 3 --worker-id "chaos-$1" \
    >>"$logdir/worker-$1.log" 2>&1 &
  pids+=($!)
  disown $!   # their kill -9 is the point: no job-control noise
}
for i in 1 2 3; do start_worker $i; done
next=4

echo "chaos: submitting $N tasks (logs in $logdir)"
# Submitters in parallel slices (4 in the quick run, whose debug binary starts more slowly).
slices=1
[ $quick -eq 1 ] && slices=4
submit_slice() {
  for i in $(seq "$1" "$slices" "$N"); do
    until "$bin" submit scripts/chaos/sleepy.lua "task-$i" --queue $queue --idempotency-key "chaos-$i" >>"$logdir/ids" 2>>"$logdir/submit.err"; do
      sleep 0.2   # Redis restarting: try again (the idempotency key keeps it to one task)
    done
  done
}
submit_all() {
  local s
  for s in $(seq 1 "$slices"); do submit_slice "$s" & done
  wait
}
submit_all &
submitter=$!

kills=0
restarted=0
start=$(date +%s)
period=3; restart_at=9; limit=600
[ $quick -eq 1 ] && { period=2; restart_at=4; limit=240; }
[ $quick -eq 1 ] && [ $failover -ge 1 ] && restart_at=2   # a release binary drains a quick run fast: fail over while tasks run
while true; do
  sleep $period
  # kill -9 a random live worker and start a replacement (once in the quick run)
  victim_index=$(( RANDOM % ${#pids[@]} ))
  victim=${pids[$victim_index]}
  if { [ $quick -eq 0 ] || [ $kills -eq 0 ]; } && kill -0 "$victim" 2>/dev/null; then
    kill -9 "$victim" 2>/dev/null || true
    kills=$((kills + 1))
    start_worker $next
    next=$((next + 1))
  fi
  if [ $sentinel -eq 1 ] && [ $restarted -eq 0 ] && [ $(( $(date +%s) - start )) -ge $restart_at ]; then
    echo "chaos: kill -9 of the Redis master; waiting for the sentinels to promote the replica"
    kill -9 "$(cat "$ORBITER_REDIS_PIDFILE")"
    until [ "$(redis-cli -p "${sentinel_hosts[0]#*:}" sentinel get-master-addr-by-name chaos 2>/dev/null | tail -1)" = "$replica_port" ]; do sleep 0.1; done
    echo "chaos: replica promoted (port $replica_port); the old master comes back as its replica"
    old_master_port=$ORBITER_REDIS_PORT
    redis-server --port "$old_master_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$logdir" --daemonize yes \
      --logfile "$logdir/old-master.log" --replicaof 127.0.0.1 "$replica_port"
    ORBITER_REDIS_PORT=$replica_port   # the checks below read the new master
    restarted=1
  fi
  if [ $cluster -eq 1 ] && [ $restarted -eq 0 ] && [ $(( $(date +%s) - start )) -ge $restart_at ]; then
    old_master_port=$ORBITER_REDIS_PORT
    echo "chaos: kill -9 of the master of queue '$queue' (port $old_master_port); waiting for its replica to take over"
    kill -9 "$(cat "$logdir/node-$old_master_port/pid")"
    ask=${cluster_ports[0]}
    [ "$ask" = "$old_master_port" ] && ask=${cluster_ports[1]}
    new_master=""
    until [ -n "$new_master" ] && [ "$new_master" != "$old_master_port" ]; do sleep 0.1; new_master=$(queue_master "$ask" || true); done
    echo "chaos: port $new_master took over; the old master comes back as its replica"
    start_node "$old_master_port"
    ORBITER_REDIS_PORT=$new_master
    restarted=1
  fi
  if [ $restarted -eq 0 ] && [ $(( $(date +%s) - start )) -ge $restart_at ]; then
    echo "chaos: restarting Redis (AOF on)"
    redis-cli -p "$ORBITER_REDIS_PORT" shutdown >/dev/null 2>&1 || true
    sleep 1
    redis-server --port "$ORBITER_REDIS_PORT" --bind 127.0.0.1 --appendonly yes --appendfsync always \
      --dir "$ORBITER_REDIS_DIR" --daemonize yes --pidfile "$ORBITER_REDIS_PIDFILE" --logfile "$ORBITER_REDIS_DIR/redis.log"
    until redis-cli -p "$ORBITER_REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
    restarted=1
  fi
  if ! kill -0 $submitter 2>/dev/null; then
    done_count=$(redis-cli -p "$ORBITER_REDIS_PORT" --raw eval "local n=0 for _,id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do local s=redis.call('HGET', '{orbiter:$queue}:task:'..id, 'status') if s=='completed' or s=='failed' or s=='cancelled' then n=n+1 end end return n" 1 "{orbiter:$queue}:index")
    echo "chaos: $done_count/$N finished, $kills workers killed"
    # Done only once the planned disruption happened: a run that ends before it proves nothing.
    [ "$done_count" -ge "$N" ] && [ $restarted -eq 1 ] && break
    # Behind Sentinel some acknowledged submits may have died with the old master: stop once every stored task ended.
    [ $failover -ge 1 ] && [ $restarted -eq 1 ] && [ "$done_count" -ge "$(redis-cli -p "$ORBITER_REDIS_PORT" zcard "{orbiter:$queue}:index")" ] && break
  fi
  if [ $(( $(date +%s) - start )) -gt $limit ]; then echo "chaos: giving up after $limit s"; break; fi
done
wait $submitter || true

if [ $restarted -eq 0 ]; then
  echo "chaos: FAILED: the planned $([ $failover -ge 1 ] && echo 'master kill' || echo 'Redis restart') never happened"
  exit 1
fi
mode=$([ $cluster -eq 1 ] && echo "on a Redis Cluster" || echo "behind Sentinel")
python3 - "$ORBITER_REDIS_PORT" "$queue" "$N" "$kills" "$restarted" "$failover" "$mode" <<'PY'
import json, os, subprocess, sys
port, queue, n, kills, restarts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
sentinel = sys.argv[6] == "1"   # a master was killed: Sentinel or Cluster failover
mode = sys.argv[7]
def r(*args):
    return subprocess.run(["redis-cli", "-p", port, "--raw", *args], capture_output=True, text=True).stdout
ids = [l for l in r("ZRANGE", "{orbiter:%s}:index" % queue, "0", "-1").split("\n") if l]
counts, bad, retried, by_input, duplicated = {}, [], 0, {}, 0
for tid in ids:
    key = "{orbiter:%s}:task:%s" % (queue, tid)
    status = r("HGET", key, "status").strip()
    counts[status] = counts.get(status, 0) + 1
    attempts = int(r("HGET", key, "attempts").strip() or 0)
    retried += attempts > 1
    try:
        task_input = json.loads(r("HGET", key, "payload")).get("input", "?")
    except ValueError:
        task_input = "?"
    events = r("XRANGE", "{orbiter:%s}:events:%s" % (queue, tid), "-", "+").split("\n")
    terminal = sum(1 for e in events if e.startswith("{") and json.loads(e).get("type") == "status"
                   and json.loads(e).get("status") in ("completed", "error", "cancelled"))
    if terminal > 1:
        duplicated += 1
    if status == "completed" and terminal == 1:
        by_input[task_input] = by_input.get(task_input, 0) + 1
    else:
        bad.append((tid, status, terminal))
duplicated += sum(c - 1 for c in by_input.values() if c > 1)
lost = sum(1 for i in range(1, n + 1) if by_input.get("task-%d" % i, 0) == 0)
print(f"chaos: tasks {n} submitted, {len(ids)} stored; statuses {counts}; {retried} taken over; "
      f"kills {kills}; {'master kills (failovers)' if sentinel else 'redis restarts'} {restarts}; lost {lost}; duplicated {duplicated}")
durable = os.environ.get("ORBITER_DURABILITY", "none") == "replica"
if sentinel:
    # Lost submits are the asynchronous replication's window, reported but allowed unless every
    # submit waited for a replica (ORBITER_DURABILITY=replica); the rest must hold.
    if durable and lost:
        print(f"chaos: FAILED: {lost} acknowledged submits lost although each waited for a replica (ORBITER_DURABILITY=replica)")
        sys.exit(1)
    if duplicated or bad:
        print(f"chaos: FAILED: duplicated {duplicated}; not completed exactly once: {len(bad)}, e.g. {bad[:5]}")
        sys.exit(1)
    print(f"chaos: {n} submitted {mode} (durability {'replica' if durable else 'none'}), {lost} acknowledged submits lost in the failover, 0 duplicated")
    sys.exit(0)
if lost or duplicated or len(ids) != n or bad:
    print(f"chaos: FAILED: lost {lost}, duplicated {duplicated}, stored {len(ids)} of {n}; not completed exactly once: {len(bad)}, e.g. {bad[:5]}")
    sys.exit(1)
print(f"chaos: {n} passed, 0 lost, 0 duplicated")
PY
