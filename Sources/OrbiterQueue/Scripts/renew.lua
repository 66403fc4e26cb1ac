-- renew: a worker renews the leases of the tasks it is still running, and learns which it lost.
--
-- XCLAIM with min-idle 0 resets an entry's idle time, but would also take back an entry another
-- worker has just taken over; checking the task's lease token first keeps a slow worker from
-- doing so. A lease is lost when the task's token is no longer the one this run was started with
-- (another worker took it over, or reclaim failed or cancelled it); the worker cancels that run.
-- A run that ended (finished or scheduled a retry under its own token) is neither renewed nor lost.
-- KEYS[1]      queue stream  {orbiter:Q}:queue (each lease is renewed on its task's level stream: lib.lua)
-- KEYS[2..n+1] task hashes   {orbiter:Q}:task:<id>, one per lease
-- ARGV[1]      consumer group
-- ARGV[2]      worker id (the consumer)
-- ARGV[3..n+2] queue entry ids, in the order of KEYS[2..]
-- ARGV[n+3..]  lease tokens, in the same order
-- Returns the positions (1-based, in KEYS[2..] order) of the leases this worker lost.
local n = #KEYS - 1
local lost = {}
for i = 1, n do
  local state = redis.call('HMGET', KEYS[i + 1], 'status', 'worker_id', 'lease', 'priority')
  if state[3] ~= ARGV[i + 2 + n] then
    lost[#lost + 1] = i
  elseif state[1] == 'running' and state[2] == ARGV[2] then
    -- pcall: a level stream without the group (a priority field changed under the task) must not
    -- stop the other renewals; that lease then lapses and the task is taken over.
    tolerant_call('XCLAIM', level_stream(KEYS[1], state[4]), ARGV[1], ARGV[2], 0, ARGV[i + 2], 'JUSTID')
  end
end
return lost
