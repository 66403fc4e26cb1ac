-- release: queue entries a stopping worker claimed but never started go back to the queue now.
--
-- A blocking read cut short by a stop can leave entries delivered to the worker without their
-- tasks started; without this they would wait for their lease to lapse. Each still-pending task
-- gets a fresh queue entry (any worker can claim it at once); an entry whose task is gone or has
-- ended is dropped; a task running anywhere is left alone.
-- KEYS[1]      queue stream the entries are in ({orbiter:Q}:queue or a level stream :pN)
-- KEYS[2..n+1] task hashes   {orbiter:Q}:task:<id>, one per entry
-- ARGV[1]      consumer group
-- ARGV[2..n+1] the claimed entry ids, in the order of KEYS[2..]
-- ARGV[n+2..]  the task ids, in the same order
-- Returns the number of tasks put back on the queue.
local n = #KEYS - 1
local released = 0
for i = 1, n do
  local task, entry, id = KEYS[i + 1], ARGV[i + 1], ARGV[i + 1 + n]
  local status = redis.call('HGET', task, 'status')
  if status == 'pending' or status == 'retrying' then
    redis.call('XACK', KEYS[1], ARGV[1], entry)
    redis.call('XDEL', KEYS[1], entry)
    local fresh = redis.call('XADD', KEYS[1], '*', 'task', id)
    redis.call('HSET', task, 'entry', fresh)
    released = released + 1
  elseif status ~= 'running' then
    redis.call('XACK', KEYS[1], ARGV[1], entry)
    redis.call('XDEL', KEYS[1], entry)
  end
end
return released
