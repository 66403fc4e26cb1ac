-- finish: a running task ends `completed`, `failed` or `cancelled`, with its one terminal event.
--
-- Writes the outcome, appends the terminal `status` event, acknowledges and deletes the queue
-- entry, sets the TTLs, and trims the time index. A task no longer running (e.g. finished by
-- someone else) is left alone.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] time index     {orbiter:Q}:index
-- KEYS[5] dead letters   {orbiter:Q}:dead   (a failed task is recorded here with its reason)
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may finish it)
-- ARGV[3] final status: completed | failed | cancelled
-- ARGV[4] result JSON ("" when none)
-- ARGV[5] error message ("" when none)
-- ARGV[6] terminal event JSON
-- ARGV[7] completed_at, milliseconds since 1970
-- ARGV[8] task TTL seconds
-- ARGV[9] events TTL seconds
-- ARGV[10] index cutoff: entries created before this (ms) are removed from the index
-- ARGV[11] task id
-- ARGV[12] per-minute counter key for this status ({orbiter:Q}:count:<status>:<minute>), kept 2 h
-- Returns 1 when finished, 0 when the task was not running on this worker.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'worker_id') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'completed_at', ARGV[7], 'result', ARGV[4], 'error', ARGV[5])
redis.call('XADD', KEYS[3], '*', 'event', ARGV[6])
local entry = redis.call('HGET', KEYS[1], 'entry')
if entry then
  redis.call('XACK', KEYS[2], ARGV[1], entry)
  redis.call('XDEL', KEYS[2], entry)
end
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[10])
redis.call('INCR', ARGV[12])
redis.call('EXPIRE', ARGV[12], 7200)
if ARGV[3] == 'failed' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'task', ARGV[11], 'reason', ARGV[5],
    'attempts', redis.call('HGET', KEYS[1], 'attempts') or '0', 'at', ARGV[7])
end
return 1
