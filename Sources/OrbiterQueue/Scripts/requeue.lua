-- requeue: a failed or cancelled task runs again from the start (`orbiter task retry`).
--
-- Its old events are deleted so the new run's stream has one terminal event.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] time index     {orbiter:Q}:index
-- KEYS[5] retention of task hashes  {orbiter:Q}:expiry:tasks (the task leaves it: it is not finished any more)
-- KEYS[6] retention of event streams {orbiter:Q}:expiry:events
-- ARGV[1] task id
-- ARGV[2] now, milliseconds since 1970
-- Returns "requeued", "not_found", or the status that cannot be requeued.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'failed' and status ~= 'cancelled' then return status end
local entry = enqueue(KEYS[2], redis.call('HGET', KEYS[1], 'priority'), ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'pending', 'entry', entry, 'attempts', 0, 'requeued_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'error', 'result', 'started_at', 'completed_at', 'worker_id', 'cancel_requested', 'checkpoint', 'lease', 'seq',
  'handbacks', 'parks', 'pending', 'reply', 'run_at')
redis.call('PERSIST', KEYS[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 'requeued'
