-- handback: a stopping worker puts a task it could not finish within its drain time back on the
-- queue, instead of cancelling it.
--
-- The task becomes `pending` with a fresh queue entry, so another worker claims it at once and
-- resumes it from its last checkpoint, as after a takeover. The stopped run did not fail, so it
-- is counted in `handbacks` and not against the task's retries. The run's lease token is
-- removed, so nothing more of this run is accepted. A task whose cancel was requested meanwhile
-- is left running: the caller finishes it `cancelled`.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may hand it back)
-- ARGV[3] lease token of the run (from start.lua)
-- ARGV[4] task id
-- ARGV[5] `status retrying` event JSON
-- Returns "requeued", "cancel" (a cancel was requested: finish it cancelled), or "lost" (the task
-- is not running under this worker's lease: taken over, or ended).
local state = redis.call('HMGET', KEYS[1], 'status', 'worker_id', 'entry', 'lease', 'cancel_requested', 'priority')
if state[1] ~= 'running' or state[2] ~= ARGV[2] or state[4] ~= ARGV[3] then return 'lost' end
if state[5] == '1' then return 'cancel' end
if state[3] then
  local stream = level_stream(KEYS[2], state[6])
  redis.call('XACK', stream, ARGV[1], state[3])
  redis.call('XDEL', stream, state[3])
end
local entry = enqueue(KEYS[2], state[6], ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'pending', 'entry', entry)
redis.call('HINCRBY', KEYS[1], 'handbacks', 1) -- the next start is not counted as a failed attempt
redis.call('HDEL', KEYS[1], 'lease')
redis.call('XADD', KEYS[3], '*', 'event', ARGV[5])
return 'requeued'
