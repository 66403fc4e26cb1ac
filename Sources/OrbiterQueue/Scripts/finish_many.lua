-- finish_many: a batch of running tasks end `completed`, `failed` or `cancelled` — each as
-- finish.lua ends one, in one step for the batch.
--
-- A worker's outcomes that arrive while its previous finish is under way go out together
-- (TaskBroker's GroupCommit): the script call, the queue entries' XACK and XDEL (one each per
-- stream), the per-minute counters' INCRBY and the retention's ZADDs are paid once per batch. Tasks whose run used
-- models go through finish.lua (it also counts their usage). Each task is checked and written
-- alone (lib.lua finish_task): one not running under its lease is left alone, the others end.
-- KEYS[1] queue stream   {orbiter:Q}:queue (the default level's; the tasks' level streams are built from it: lib.lua)
-- KEYS[2] dead letters   {orbiter:Q}:dead
-- KEYS[3] retention of task hashes  {orbiter:Q}:expiry:tasks
-- KEYS[4] retention of event streams {orbiter:Q}:expiry:events
-- KEYS[5..] per task, three keys: its hash {orbiter:Q}:task:<id>, its events stream
--           {orbiter:Q}:events:<id> and the per-minute counter of its status
--           {orbiter:Q}:count:<status>:<minute>
-- ARGV[1] consumer group
-- ARGV[2] task TTL seconds
-- ARGV[3] events TTL seconds
-- ARGV[4] approximate cap of an events stream's length
-- ARGV[5..] per task, eleven values and its events: task id, worker id, lease token, final
--           status, result JSON, error message, terminal event JSON, completed_at (ms), "1" to copy
--           the result into the terminal event's entry (as finish.lua's ARGV[10], [2], [12],
--           [3..7], [11]), the number of its first waiting event and their count n (finish.lua's
--           ARGV[14], [15]), then those n event JSON texts
-- Returns one integer per task, in order: 1 finished, 0 not running under that worker's lease.
local count = (#KEYS - 4) / 3
local tasks, at = {}, 5
while at <= #ARGV do
  local n = tonumber(ARGV[at + 10])
  if not n or n < 0 or n ~= math.floor(n) or at + 10 + n > #ARGV then break end
  tasks[#tasks + 1] = at
  at = at + 11 + n
end
if count ~= #tasks or at ~= #ARGV + 1 then
  return redis.error_reply('ERR finish_many: ' .. (#KEYS - 4) .. ' task keys and ' .. (#ARGV - 4) .. ' task values do not pair up')
end
local retention = new_retention(KEYS[3], KEYS[4], ARGV[2], ARGV[3])
local out, acks, streams, counts, counters = {}, {}, {}, {}, {}
for i = 1, count do
  local k, a = 5 + (i - 1) * 3, tasks[i]
  local done = finish_task(KEYS[k], KEYS[k + 1], KEYS[2], KEYS[1], { id = ARGV[a], worker = ARGV[a + 1], lease = ARGV[a + 2],
    status = ARGV[a + 3], result = ARGV[a + 4], error = ARGV[a + 5], event = ARGV[a + 6], at = ARGV[a + 7],
    in_event = ARGV[a + 8], cap = ARGV[4], first = tonumber(ARGV[a + 9]), events = events_at(a + 11, tonumber(ARGV[a + 10])) },
    retention)
  out[i] = done and 1 or 0
  if done then
    if done[2] then
      if not acks[done[1]] then
        acks[done[1]] = {}
        streams[#streams + 1] = done[1]
      end
      table.insert(acks[done[1]], done[2])
    end
    local counter = KEYS[k + 2]
    if not counts[counter] then
      counts[counter] = 0
      counters[#counters + 1] = counter
    end
    counts[counter] = counts[counter] + 1
  end
end
for _, stream in ipairs(streams) do
  redis.call('XACK', stream, ARGV[1], unpack(acks[stream]))
  redis.call('XDEL', stream, unpack(acks[stream]))
end
for _, counter in ipairs(counters) do count_finished(counter, counts[counter]) end
commit_retention(retention)
return out
