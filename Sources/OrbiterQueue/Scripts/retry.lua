-- retry: a running task that failed with a retryable error waits in the delayed set.
--
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] delayed zset   {orbiter:Q}:delayed   (task id scored by when it may run again, ms)
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may retry it)
-- ARGV[3] run again at, milliseconds since 1970
-- ARGV[4] the error that caused the retry
-- ARGV[5] `status retrying` event JSON
-- ARGV[6] task id
-- ARGV[7] lease token of the run (from start.lua)
-- Returns 1, or 0 when the task was not running under this worker's lease.
local state = redis.call('HMGET', KEYS[1], 'status', 'worker_id', 'lease')
if state[1] ~= 'running' or state[2] ~= ARGV[2] or state[3] ~= ARGV[7] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'retrying', 'error', ARGV[4], 'retry_at', ARGV[3])
local entry = redis.call('HGET', KEYS[1], 'entry')
if entry then
  local stream = task_stream(KEYS[2], KEYS[1])
  redis.call('XACK', stream, ARGV[1], entry)
  redis.call('XDEL', stream, entry)
end
redis.call('HDEL', KEYS[1], 'entry')
redis.call('XADD', KEYS[3], '*', 'event', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[6])
return 1
