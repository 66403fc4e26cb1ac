-- append: running tasks append batches of their events to their streams, each event once, each
-- run only while it still holds its lease.
--
-- Each run numbers its events 1, 2, 3...; the task hash keeps the last number appended under the
-- run's lease token (`seq`, reset by start.lua), so an append retried after a lost reply is not
-- added twice, and a run that lost its lease cannot mix its events into the new owner's. (The
-- token alone decides: start.lua replaces it, reclaim.lua and requeue.lua remove it, and a run
-- appends nothing after its own finish or retry.) A worker sends what all its runs published
-- while its previous append was under way in one call: one script call for many runs' deltas.
-- Each run is judged on its own: one run's lost lease does not stop the others' events.
-- KEYS[2i-1], KEYS[2i]  task hash {orbiter:Q}:task:<id> and events stream {orbiter:Q}:events:<id>
--                       of the i-th run
-- ARGV[1]  approximate cap of an events stream's length
-- ARGV[2]  TTL seconds, set with a run's first event (so a stream whose task never ends expires)
-- ARGV[3..] per run, in KEYS order: its lease token (from start.lua), the number of its batch's
--          first event within the run (1 for the run's first; the others follow on), the count n
--          of its events, then their n JSON texts, in order
-- Returns one integer per run: 1 when events were appended, 2 when every one was appended
-- already, 0 when the lease is lost.
local results = {}
local at = 3
for i = 1, #KEYS / 2 do
  local hash, stream = KEYS[2 * i - 1], KEYS[2 * i]
  local lease, first, count = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local events = at + 3
  at = events + count
  local state = redis.call('HMGET', hash, 'lease', 'seq')
  if state[1] ~= lease then
    results[i] = 0
  else
    local stored, last = tonumber(state[2]) or 0, first + count - 1
    if last <= stored then
      results[i] = 2
    else
      for seq = math.max(first, stored + 1), last do
        redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[events + seq - first])
      end
      redis.call('HSET', hash, 'seq', last)
      if first == 1 then redis.call('EXPIRE', stream, ARGV[2]) end
      results[i] = 1
    end
  end
end
return results
