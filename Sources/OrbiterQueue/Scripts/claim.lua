-- claim: a worker takes the next tasks of its queue and starts them — one round trip per batch.
--
-- In one atomic step: delayed retries and scheduled tasks whose time has come are queued on
-- their priority's stream (lib.lua promote_due); the room under the queue's concurrency cap is
-- counted (running tasks = the consumer group's pending entries summed over the level streams:
-- exact and crash-safe, no counter that could drift); entries are read (XREADGROUP without BLOCK)
-- from the level streams, highest priority first and FIFO within a level, except that a level
-- whose oldest waiting entry is older than the starvation age is read first (entry ids carry
-- their time); each is started as start.lua starts it (lib.lua start_entry). When the worker
-- should wait, the reply says until when and from which stream positions: the worker then
-- blocks on a plain XREAD of those streams (and the wake stream) from exactly these ids, so an
-- entry added after this script ran wakes it at once, and calls claim again.
-- KEYS[1] queue stream    {orbiter:Q}:queue (default level; the others, the levels set and the
--                         wake stream {orbiter:Q}:queue:wake are built from it: lib.lua)
-- KEYS[2] delayed zset    {orbiter:Q}:delayed
-- KEYS[3] scheduled zset  {orbiter:Q}:scheduled
-- KEYS[4] concurrency cap {orbiter:Q}:concurrency (a positive integer; absent: no cap)
-- ARGV[1] consumer group
-- ARGV[2] worker id (the consumer)
-- ARGV[3] now, milliseconds since 1970
-- ARGV[4] lease token prefix (random, new per call); the n-th started task's token is <prefix>.<n>
-- ARGV[5] at most this many tasks (the worker's free slots, at most its batch size)
-- ARGV[6] task key prefix {orbiter:Q}:task: (shares the queue's hash tag)
-- ARGV[7] starvation age, milliseconds (0: off)
-- ARGV[8] at most this many due tasks promoted from each set per call
-- Returns {claimed, wait, streams}:
--   claimed: one item per entry read, in order: {stream, entry id, task id, <start_entry reply>}
--            (an entry without a task id is deleted and not listed);
--   wait:    {} to call again at once (a full batch was taken), else {reason, next due ms or -1,
--            stream, last id, stream, last id, ...} with reason "idle" (the streams are drained)
--            or "capped" (the concurrency cap is reached: a finishing task frees room, which no
--            stream shows, so the worker looks again soon);
--   streams: every level stream, highest priority first (for takeovers and releases).
local base, group, worker, now = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local want, starve = tonumber(ARGV[5]), tonumber(ARGV[7])
promote_due(KEYS[2], base, ARGV[6], now, tonumber(ARGV[8]), 'retrying')
promote_due(KEYS[3], base, ARGV[6], now, tonumber(ARGV[8]), 'scheduled')
local levels = level_streams(base)

local room, capped = want, false
local cap = tonumber(redis.call('GET', KEYS[4]) or '')
if cap and cap >= 1 and cap == math.floor(cap) then
  local running = 0
  for _, level in ipairs(levels) do running = running + group_state(level[2], group) end
  if cap - running < room then room, capped = math.max(cap - running, 0), true end
end

-- The reading order: starved levels first (the longest waiting first), then by priority.
local order = levels
if #levels > 1 and starve > 0 and room > 0 then
  local starved, rest = {}, {}
  for _, level in ipairs(levels) do
    local _, delivered = group_state(level[2], group)
    local first = redis.call('XRANGE', level[2], '(' .. delivered, '+', 'COUNT', 1)[1]
    local ms = first and tonumber(string.match(first[1], '^(%d+)'))
    if ms and now - ms >= starve then
      starved[#starved + 1] = { level[1], level[2], ms }
    else
      rest[#rest + 1] = level
    end
  end
  table.sort(starved, function(a, b) return a[3] < b[3] end)
  order = starved
  for _, level in ipairs(rest) do order[#order + 1] = level end
end

local claimed, taken, started = {}, 0, 0
for _, level in ipairs(order) do
  if taken >= room then break end
  local stream = level[2]
  local ok, reply = tolerant_call('XREADGROUP', 'GROUP', group, worker, 'COUNT', room - taken, 'STREAMS', stream, '>')
  if not ok then -- the level's stream or group does not exist yet
    tolerant_call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
    ok, reply = tolerant_call('XREADGROUP', 'GROUP', group, worker, 'COUNT', room - taken, 'STREAMS', stream, '>')
  end
  if ok and reply and reply[1] then
    for _, entry in ipairs(reply[1][2]) do
      taken = taken + 1
      local fields, task = entry[2], nil
      for i = 1, #fields, 2 do if fields[i] == 'task' then task = fields[i + 1] end end
      if task then
        started = started + 1
        local item = start_entry(stream, group, worker, ARGV[3], ARGV[4] .. '.' .. started, ARGV[6] .. task, entry[1])
        table.insert(item, 1, task)
        table.insert(item, 1, entry[1])
        table.insert(item, 1, stream)
        claimed[#claimed + 1] = item
      else
        redis.call('XACK', stream, group, entry[1])
        redis.call('XDEL', stream, entry[1])
      end
    end
  end
end

local streams = {}
for i, level in ipairs(levels) do streams[i] = level[2] end
if taken >= want then return { claimed, {}, streams } end

-- Wait: until the next due time, or an entry after the last ones of every stream.
local due = -1
for _, zset in ipairs({ KEYS[2], KEYS[3] }) do
  local first = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  if first[2] then
    local at = tonumber(first[2])
    if due < 0 or at < due then due = at end
  end
end
local wait = { (capped and taken >= room) and 'capped' or 'idle', due }
local watched = { base .. ':wake' }
for _, s in ipairs(streams) do watched[#watched + 1] = s end
for _, s in ipairs(watched) do
  local ok, info = tolerant_call('XINFO', 'STREAM', s)
  local last = '0-0'
  if ok then
    for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
  end
  wait[#wait + 1] = s
  wait[#wait + 1] = last
end
return { claimed, wait, streams }
