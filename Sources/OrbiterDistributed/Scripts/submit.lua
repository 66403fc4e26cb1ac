-- submit: a new task becomes `pending` — stored, queued and indexed in one step.
--
-- KEYS[1] task hash        {orbiter:Q}:task:<id>
-- KEYS[2] queue stream     {orbiter:Q}:queue
-- KEYS[3] time index zset  {orbiter:Q}:index
-- KEYS[4] bundle string    {orbiter:Q}:bundle:<sha256>   (ignored when ARGV[3] is empty and ARGV[5] is "")
-- ARGV[1] task id
-- ARGV[2] payload JSON
-- ARGV[3] bundle JSON, or "" when the caller believes it is stored already
-- ARGV[4] created_at, milliseconds since 1970
-- ARGV[5] bundle sha256, or "" for a task without a bundle
-- ARGV[6] bundle TTL seconds (refreshed on every submit)
-- ARGV[7] approximate cap of the queue stream's length (acknowledged entries are deleted anyway)
-- Returns the queue entry id, or an error: "EXISTS ..." / "NOBUNDLE ...".
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('EXISTS task ' .. ARGV[1] .. ' already exists')
end
if ARGV[5] ~= '' then
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[6])
  elseif redis.call('EXPIRE', KEYS[4], ARGV[6]) == 0 then
    return redis.error_reply('NOBUNDLE script bundle ' .. ARGV[5] .. ' is not stored')
  end
end
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'task', ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'pending', 'payload', ARGV[2], 'created_at', ARGV[4],
  'attempts', 0, 'entry', entry, 'bundle', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return entry
