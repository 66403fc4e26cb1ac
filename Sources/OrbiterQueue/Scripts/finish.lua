-- finish: a running task ends `completed`, `failed` or `cancelled`, with its one terminal event.
--
-- Writes the outcome, appends the terminal `status` event, acknowledges and deletes the queue
-- entry, records when the task's hash and stream go (lib.lua's retention) and counts the outcome. A task no longer running under this run's lease
-- (e.g. taken over after its lease lapsed, even by the same worker) is left alone.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] events stream  {orbiter:Q}:events:<id>
-- KEYS[4] dead letters   {orbiter:Q}:dead   (a failed task is recorded here with its reason)
-- KEYS[5] per-minute counter for this status {orbiter:Q}:count:<status>:<minute>, kept 2 h
-- KEYS[6] retention of task hashes  {orbiter:Q}:expiry:tasks
-- KEYS[7] retention of event streams {orbiter:Q}:expiry:events
-- ARGV[1] consumer group
-- ARGV[2] worker id (only the worker running the task may finish it)
-- ARGV[3] final status: completed | failed | cancelled
-- ARGV[4] result JSON ("" when none)
-- ARGV[5] error message ("" when none)
-- ARGV[6] terminal event JSON
-- ARGV[7] completed_at, milliseconds since 1970
-- ARGV[8] task TTL seconds
-- ARGV[9] events TTL seconds
-- ARGV[10] task id
-- ARGV[11] "1" to copy the result JSON into the terminal event's stream entry (small results), so
--          a waiting client has the outcome without another read; "" to leave it in the hash only
-- ARGV[12] lease token of the run (from start.lua)
-- ARGV[13] approximate cap of an events stream's length
-- ARGV[14] the number within the run of the first event that rides in this finish (see append.lua)
-- ARGV[15] how many events ride in it, n (0: none), then ARGV[16..15+n] their JSON texts, in order:
--          the run's events still waiting when it ended, appended before the terminal event
-- KEYS[8], ARGV[16+n..] (only when the run used models): the per-minute usage hash
--          {orbiter:Q}:usage:<minute> (kept 2 h), and per model four values: model, input tokens,
--          output tokens, cost in USD ("" when unknown); each adds in:/out:/cost:/tasks:<model>
--          (and unpriced:<model> when the cost is unknown) for `queue stats`
-- Returns 1 when finished, 0 when the task was not running under this worker's lease. The writes
-- are lib.lua's finish_task and count_finished, shared with finish_many.lua (tasks without usage).
local retention = new_retention(KEYS[6], KEYS[7], ARGV[8], ARGV[9])
local n = tonumber(ARGV[15])
if not n or n < 0 or n ~= math.floor(n) or 15 + n > #ARGV then return redis.error_reply('ERR finish: ARGV[15] is not the count of the events that follow') end
local done = finish_task(KEYS[1], KEYS[3], KEYS[4], KEYS[2], { id = ARGV[10], worker = ARGV[2], lease = ARGV[12],
  status = ARGV[3], result = ARGV[4], error = ARGV[5], event = ARGV[6], at = ARGV[7], in_event = ARGV[11],
  cap = ARGV[13], first = tonumber(ARGV[14]), events = events_at(16, n) }, retention)
if not done then return 0 end
commit_retention(retention)
if done[2] then
  redis.call('XACK', done[1], ARGV[1], done[2])
  redis.call('XDEL', done[1], done[2])
end
count_finished(KEYS[5], 1)
if KEYS[8] then
  for i = 16 + n, #ARGV - 3, 4 do
    local model = ARGV[i]
    redis.call('HINCRBY', KEYS[8], 'in:' .. model, ARGV[i + 1])
    redis.call('HINCRBY', KEYS[8], 'out:' .. model, ARGV[i + 2])
    redis.call('HINCRBY', KEYS[8], 'tasks:' .. model, 1)
    if ARGV[i + 3] == '' then
      redis.call('HINCRBY', KEYS[8], 'unpriced:' .. model, 1)
    else
      redis.call('HINCRBYFLOAT', KEYS[8], 'cost:' .. model, ARGV[i + 3])
    end
  end
  redis.call('EXPIRE', KEYS[8], 7200)
end
return 1
