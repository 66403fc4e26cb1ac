-- start: a claimed queue entry becomes a `running` task, or is dropped.
--
-- A task cancelled (or finished) while it waited is acknowledged and deleted, never run.
-- KEYS[1] task hash     {orbiter:Q}:task:<id>
-- KEYS[2] queue stream  {orbiter:Q}:queue
-- ARGV[1] consumer group
-- ARGV[2] queue entry id
-- ARGV[3] worker id
-- ARGV[4] started_at, milliseconds since 1970
-- Returns {"run", payload, attempts, signature, checkpoint} or {"drop", reason}; the checkpoint
-- (JSON, "" when none) lets a taken-over task resume after its last completed step.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return {'drop', 'missing'}
end
if status ~= 'pending' and status ~= 'retrying' then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return {'drop', status}
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker_id', ARGV[3], 'started_at', ARGV[4])
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'entry', ARGV[2])
return {'run', redis.call('HGET', KEYS[1], 'payload'), attempts, redis.call('HGET', KEYS[1], 'signature') or '',
        redis.call('HGET', KEYS[1], 'checkpoint') or ''}
