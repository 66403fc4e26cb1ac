-- finish: a running task ends `completed`, `failed` or `cancelled`, with its one terminal event.
--
-- Writes the outcome, appends the terminal `status` event, acknowledges and deletes the queue
-- entry, sets the TTLs and counts the outcome. A task no longer running under this run's lease
-- (e.g. taken over after its lease lapsed, even by the same worker) is left alone.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] dead letters   {orbiter:Q}:dead   (a failed task is recorded here with its reason)
-- KEYS[5] per-minute counter for this status {orbiter:Q}:count:<status>:<minute>, kept 2 h
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may finish it)
-- ARGV[3] final status: completed | failed | cancelled
-- ARGV[4] result JSON ("" when none)
-- ARGV[5] error message ("" when none)
-- ARGV[6] terminal event JSON
-- ARGV[7] completed_at, milliseconds since 1970
-- ARGV[8] task TTL seconds
-- ARGV[9] events TTL seconds
-- ARGV[10] task id
-- ARGV[11] "1" to copy the result JSON into the terminal event's stream entry (small results), so
--          a waiting client has the outcome without another read; "" to leave it in the hash only
-- ARGV[12] lease token of the run (from start.lua)
-- KEYS[6], ARGV[13..] (only when the run used models): the per-minute usage hash
--          {orbiter:Q}:usage:<minute> (kept 2 h), and per model four values: model, input tokens,
--          output tokens, cost in USD ("" when unknown); each adds in:/out:/cost:/tasks:<model>
--          (and unpriced:<model> when the cost is unknown) for `queue stats`
-- Returns 1 when finished, 0 when the task was not running under this worker's lease.
local state = redis.call('HMGET', KEYS[1], 'status', 'worker_id', 'entry', 'attempts', 'lease', 'priority')
if state[1] ~= 'running' or state[2] ~= ARGV[2] or state[5] ~= ARGV[12] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'completed_at', ARGV[7], 'result', ARGV[4], 'error', ARGV[5])
-- The terminal entry also carries the outcome (`outcome`, `error`, and `result` when small).
if ARGV[11] == '1' then
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[6], 'outcome', ARGV[3], 'error', ARGV[5], 'result', ARGV[4])
else
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[6], 'outcome', ARGV[3], 'error', ARGV[5])
end
if state[3] then
  local stream = level_stream(KEYS[2], state[6])
  redis.call('XACK', stream, ARGV[1], state[3])
  redis.call('XDEL', stream, state[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
if redis.call('INCR', KEYS[5]) == 1 then
  redis.call('EXPIRE', KEYS[5], 7200)
end
if KEYS[6] then
  for i = 13, #ARGV - 3, 4 do
    local model = ARGV[i]
    redis.call('HINCRBY', KEYS[6], 'in:' .. model, ARGV[i + 1])
    redis.call('HINCRBY', KEYS[6], 'out:' .. model, ARGV[i + 2])
    redis.call('HINCRBY', KEYS[6], 'tasks:' .. model, 1)
    if ARGV[i + 3] == '' then
      redis.call('HINCRBY', KEYS[6], 'unpriced:' .. model, 1)
    else
      redis.call('HINCRBYFLOAT', KEYS[6], 'cost:' .. model, ARGV[i + 3])
    end
  end
  redis.call('EXPIRE', KEYS[6], 7200)
end
if ARGV[3] == 'failed' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'task', ARGV[10], 'reason', ARGV[5],
    'attempts', state[4] or '0', 'at', ARGV[7])
end
return 1
