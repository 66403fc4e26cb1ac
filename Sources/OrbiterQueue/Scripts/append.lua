-- append: a running task appends a batch of its events to its stream, each once, if it still
-- holds its lease.
--
-- Each run numbers its events 1, 2, 3...; the task hash keeps the last number appended under the
-- run's lease token (`seq`, reset by start.lua), so an append retried after a lost reply is not
-- added twice, and a run that lost its lease cannot mix its events into the new owner's. (The
-- token alone decides: start.lua replaces it, reclaim.lua and requeue.lua remove it, and a run
-- appends nothing after its own finish or retry.) A worker sends the events that queued up
-- while its previous append was under way in one call.
-- KEYS[1]  task hash      {orbiter:Q}:task:<id>
-- KEYS[2]  events stream  {orbiter:Q}:events:<id>
-- ARGV[1]  lease token of the run (from start.lua)
-- ARGV[2]  the number of the batch's first event within the run (1 for the run's first); the
--          others follow on
-- ARGV[3]  approximate cap of the events stream's length
-- ARGV[4]  TTL seconds, set with the run's first event (so a stream whose task never ends expires)
-- ARGV[5..] the events' JSON, in order
-- Returns 1 when events were appended, 2 when every one was appended already, 0 when the lease
-- is lost.
local state = redis.call('HMGET', KEYS[1], 'lease', 'seq')
if state[1] ~= ARGV[1] then return 0 end
local first, stored = tonumber(ARGV[2]), tonumber(state[2]) or 0
local last = first + #ARGV - 5
if last <= stored then return 2 end
for seq = math.max(first, stored + 1), last do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[seq - first + 5])
end
redis.call('HSET', KEYS[1], 'seq', last)
if first == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return 1
