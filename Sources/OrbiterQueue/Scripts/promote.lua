-- promote: delayed tasks whose time has come go back on the queue.
--
-- KEYS[1] delayed zset   {orbiter:Q}:delayed
-- KEYS[2] queue stream   {orbiter:Q}:queue
-- ARGV[1] now, milliseconds since 1970
-- ARGV[2] at most this many tasks
-- ARGV[3] task key prefix {orbiter:Q}:task: — task keys are built here; they share the queue's
--         hash tag, so they live in this script's slot on Redis Cluster too
-- Returns the number of tasks promoted.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local promoted = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local task = ARGV[3] .. id
  if redis.call('HGET', task, 'status') == 'retrying' then
    local entry = redis.call('XADD', KEYS[2], '*', 'task', id)
    redis.call('HSET', task, 'entry', entry)
    promoted = promoted + 1
  end
end
return promoted
