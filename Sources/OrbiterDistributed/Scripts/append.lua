-- append: a running task appends one event to its stream, once, if it still holds its lease.
--
-- Each run numbers its events 1, 2, 3...; the task hash keeps the last number appended under the
-- run's lease token (`seq`, reset by start.lua), so an append retried after a lost reply is not
-- added twice, and a run that lost its lease cannot mix its events into the new owner's. (The
-- token alone decides: start.lua replaces it, reclaim.lua and requeue.lua remove it, and a run
-- appends nothing after its own finish or retry.)
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] events stream  {orbiter:Q}:events:<id>
-- ARGV[1] lease token of the run (from start.lua)
-- ARGV[2] the event's number within the run (1 for the first)
-- ARGV[3] event JSON
-- ARGV[4] approximate cap of the events stream's length
-- ARGV[5] TTL seconds, set with the run's first event (so a stream whose task never ends expires)
-- Returns 1 when appended, 2 when this number was appended already, 0 when the lease is lost.
local state = redis.call('HMGET', KEYS[1], 'lease', 'seq')
if state[1] ~= ARGV[1] then return 0 end
local seq = tonumber(ARGV[2])
if seq <= (tonumber(state[2]) or 0) then return 2 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'event', ARGV[3])
redis.call('HSET', KEYS[1], 'seq', seq)
if seq == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
return 1
