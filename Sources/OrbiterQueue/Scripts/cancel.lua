-- cancel: a pending or parked task becomes `cancelled` at once; a running one is flagged and its
-- worker told.
--
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] waiting zset   {orbiter:Q}:waiting   (a parked task leaves it)
-- ARGV[1] consumer group
-- ARGV[2] terminal event JSON (status cancelled), used for a pending task
-- ARGV[3] now, milliseconds since 1970
-- ARGV[4] task TTL seconds
-- ARGV[5] events TTL seconds
-- ARGV[6] control channel prefix ({orbiter:Q}:control:); the worker id is appended
-- ARGV[7] task id
-- ARGV[8] terminal event JSON (status cancelled), used for a parked (waiting) task
-- KEYS[5] scheduled zset {orbiter:Q}:scheduled (a scheduled task leaves it); optional
-- Returns "cancelled" (it was pending, scheduled or waiting and now never runs), "cancelling", "not_found", or
-- "already:<status>" for a task that had ended (completed, failed or cancelled) and is left as it is.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status == 'waiting' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'completed_at', ARGV[3], 'error', 'cancelled while waiting for input')
  redis.call('HDEL', KEYS[1], 'pending')
  redis.call('ZREM', KEYS[4], ARGV[7])
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[8], 'outcome', 'cancelled', 'error', 'cancelled while waiting for input')
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return 'cancelled'
end
if status == 'pending' or status == 'retrying' or status == 'scheduled' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'completed_at', ARGV[3], 'error', 'cancelled before it started')
  local entry = redis.call('HGET', KEYS[1], 'entry')
  if entry then
    local stream = task_stream(KEYS[2], KEYS[1])
    redis.call('XACK', stream, ARGV[1], entry)
    redis.call('XDEL', stream, entry)
  end
  if status == 'scheduled' and KEYS[5] then redis.call('ZREM', KEYS[5], ARGV[7]) end
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return 'cancelled'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  local worker = redis.call('HGET', KEYS[1], 'worker_id')
  if worker then redis.call('PUBLISH', ARGV[6] .. worker, 'cancel ' .. ARGV[7]) end
  return 'cancelling'
end
return 'already:' .. status
