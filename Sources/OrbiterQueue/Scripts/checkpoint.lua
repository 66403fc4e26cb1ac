-- checkpoint: a running task stores the state to resume from, if it still holds its lease.
--
-- KEYS[1] task hash  {orbiter:Q}:task:<id>
-- ARGV[1] lease token of the run (from start.lua)
-- ARGV[2] checkpoint JSON
-- Returns 1 when stored, 0 when the run lost its lease (the task is another run's now, or ended).
local state = redis.call('HMGET', KEYS[1], 'status', 'lease')
if state[1] ~= 'running' or state[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2])
return 1
