-- park: a running task stops to wait for a person (`waiting`), holding no worker, slot or lease.
--
-- Its run needs an approval or an answer (an `approval = true` tool, `orbiter.ask`). The
-- checkpoint to resume from and the request are stored with the new state in one step; the queue
-- entry is acknowledged and deleted (the task holds no slot and no takeover will ever see it);
-- the lease token is removed, so nothing more of this run is accepted; the wait deadline goes
-- into the waiting set, where the workers' sweep finds it (expire.lua); the `waiting_for_input`
-- event says what is asked. A park is not a failed attempt (`parks` is subtracted like
-- `handbacks`). A task whose cancel was requested meanwhile is left running: the caller
-- finishes it `cancelled`.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] waiting zset   {orbiter:Q}:waiting   (task id scored by its wait deadline, ms)
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may park it)
-- ARGV[3] lease token of the run (from start.lua)
-- ARGV[4] task id
-- ARGV[5] the request JSON (kind, id, agent_name, tool_name, tool_call_id, arguments, question?,
--         index?, since, until)
-- ARGV[6] checkpoint (JSON, sealed when the queue signs)
-- ARGV[7] wait deadline, milliseconds since 1970
-- ARGV[8] `status waiting_for_input` event JSON
-- ARGV[9] events stream TTL seconds from now (it must outlive the wait)
-- Returns "parked", "cancel" (a cancel was requested: finish it cancelled), or "lost" (the task is
-- not running under this worker's lease: taken over, or ended).
local state = redis.call('HMGET', KEYS[1], 'status', 'worker_id', 'entry', 'lease', 'cancel_requested', 'priority')
if state[1] ~= 'running' or state[2] ~= ARGV[2] or state[4] ~= ARGV[3] then return 'lost' end
if state[5] == '1' then return 'cancel' end
if state[3] then
  local stream = level_stream(KEYS[2], state[6])
  redis.call('XACK', stream, ARGV[1], state[3])
  redis.call('XDEL', stream, state[3])
end
redis.call('HSET', KEYS[1], 'status', 'waiting', 'pending', ARGV[5], 'checkpoint', ARGV[6])
redis.call('HDEL', KEYS[1], 'entry', 'lease', 'reply')
redis.call('HINCRBY', KEYS[1], 'parks', 1) -- the next start is not counted as a failed attempt
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[4])
redis.call('XADD', KEYS[3], '*', 'event', ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
return 'parked'
