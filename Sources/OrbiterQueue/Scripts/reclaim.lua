-- reclaim: a task whose worker stopped renewing its lease (it died or stalled) is taken over.
--
-- Called by the worker that just took the queue entry with XAUTOCLAIM. The old run's lease token
-- is removed, so a stalled owner that wakes up can no longer write. A task whose cancel was
-- requested while its worker was gone ends `cancelled`; one that has used all its attempts (each
-- start counts one, so a task that crashes every worker that runs it ends here) is failed and
-- dead-lettered; otherwise it becomes `pending` again and the caller starts it (start.lua) like a
-- fresh claim.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   the level stream the entry is in ({orbiter:Q}:queue or :pN)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] dead letters   {orbiter:Q}:dead
-- ARGV[1] consumer group
-- ARGV[2] queue entry id
-- ARGV[3] now, milliseconds since 1970
-- ARGV[4] attempts allowed (1 + max retries)
-- ARGV[5] `status retrying` event JSON (for a takeover)
-- ARGV[6] terminal `status error` event JSON (for a task out of attempts)
-- ARGV[7] task TTL seconds
-- ARGV[8] events TTL seconds
-- ARGV[9] task id
-- ARGV[10] terminal `status cancelled` event JSON (for a task cancelled while its worker was gone)
-- Returns "run" (start it now), "dead" (failed: out of attempts), "cancelled", or "drop"
-- (nothing to run).
local state = redis.call('HMGET', KEYS[1], 'status', 'worker_id', 'attempts', 'cancel_requested', 'handbacks', 'parks')
local status = state[1]
if status == 'pending' or status == 'retrying' then return 'run' end
if status ~= 'running' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return 'drop'
end
local lost = state[2] or '?'
-- Hand-backs (a stopping worker's runs) and parks (runs that stopped for a person) are not failed attempts.
local attempts = tonumber(state[3] or '0') - (tonumber(state[5] or '0') or 0) - (tonumber(state[6] or '0') or 0)
redis.call('HDEL', KEYS[1], 'lease')
local function close(outcome, reason, event)
  redis.call('HSET', KEYS[1], 'status', outcome, 'error', reason, 'completed_at', ARGV[3])
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  redis.call('XADD', KEYS[3], '*', 'event', event, 'outcome', outcome, 'error', reason)
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
if state[4] == '1' then
  close('cancelled', 'cancelled while its worker ' .. lost .. ' was lost', ARGV[10])
  return 'cancelled'
end
if attempts >= tonumber(ARGV[4]) then
  local reason = 'worker ' .. lost .. ' was lost and the task used all ' .. attempts .. ' attempts'
  close('failed', reason, ARGV[6])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'task', ARGV[9], 'reason', reason, 'attempts', attempts, 'at', ARGV[3])
  return 'dead'
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'error', 'worker ' .. lost .. ' was lost')
redis.call('XADD', KEYS[3], '*', 'event', ARGV[5])
return 'run'
