-- lib: functions several transitions share. Not a transition: QueueScripts puts this text in
-- front of every script (Redis scripts have no includes), so each script reads as one file and
-- this logic exists once. Only `local function`s: scripts may not define globals.
--
-- Priority levels. A task's `priority` (0..9, 9 first) picks its queue stream: the default level
-- (5) is the queue stream itself, `{orbiter:Q}:queue`; level N is `{orbiter:Q}:queue:pN`. The
-- set `{orbiter:Q}:queue:levels` lists the other levels ever used, so workers know which streams
-- to read. These keys are built from the queue stream's name, which every caller passes in KEYS,
-- so they share its hash tag (the documented exception of promote.lua). A field that is missing
-- or not an integer 0..9 means the default level, so a garbage value never breaks a transition.
local DEFAULT_LEVEL = 5

-- redis.call under pcall for errors a transition may ride out (a stream or group that does not
-- exist yet), never for a refused right: an ACL user missing a command gets the error, not a
-- silently wrong answer (no running count, a lost lease renewal).
local function tolerant_call(...)
  local ok, reply = pcall(redis.call, ...)
  if not ok then
    local message = type(reply) == 'table' and tostring(reply.err) or tostring(reply)
    if string.find(message, "can't run this command", 1, true) or string.find(message, 'NOPERM', 1, true) then
      error(redis.error_reply("NOPERM this user has no permissions to run the '" .. string.lower(tostring((...))) ..
        "' command (called by a queue script)"))
    end
  end
  return ok, reply
end

local function level_of(value)
  local p = tonumber(value)
  if p and p >= 0 and p <= 9 and p == math.floor(p) then return p end
  return DEFAULT_LEVEL
end
local function level_stream(base, level)
  level = level_of(level)
  if level == DEFAULT_LEVEL then return base end
  return base .. ':p' .. level
end
-- Adds a queue entry for task `id` at `level`'s stream; returns the entry id. A level other than
-- the default is (re)listed in the levels set, so it is never missed by the workers.
local function enqueue(base, level, id)
  level = level_of(level)
  if level ~= DEFAULT_LEVEL then redis.call('SADD', base .. ':levels', level) end
  return redis.call('XADD', level_stream(base, level), '*', 'task', id)
end

-- Starts one claimed entry (read from `stream`) of task hash `task`: a pending (or retrying)
-- task becomes `running` with a fresh lease token (a new attempt); anything else (cancelled or
-- finished while it waited, gone) has its entry acknowledged and deleted. Returns
-- {"run", payload, attempt, signature, checkpoint, lease, reply} or {"drop", reason}: see start.lua.
local function start_entry(stream, group, worker, now, lease, task, entry)
  local state = redis.call('HMGET', task, 'status', 'payload', 'signature', 'checkpoint', 'attempts', 'handbacks', 'parks', 'reply')
  local status = state[1]
  if status == 'pending' or status == 'retrying' then
    local attempts = (tonumber(state[5]) or 0) + 1
    redis.call('HSET', task, 'status', 'running', 'worker_id', worker, 'started_at', now, 'entry', entry,
      'attempts', attempts, 'lease', lease, 'seq', 0)
    return {'run', state[2], attempts - (tonumber(state[6]) or 0) - (tonumber(state[7]) or 0), state[3] or '',
            state[4] or '', lease, state[8] or ''}
  end
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  return {'drop', status or 'missing'}
end

-- Moves tasks of zset `zset` whose time has come (score <= now, at most `limit`) onto their
-- priority's stream. `from` is the status they wait in (`retrying` in the delayed set,
-- `scheduled` in the scheduled set); a scheduled task becomes `pending`. A member whose task is
-- in another state (cancelled meanwhile, gone) is just removed. Returns how many were queued.
local function promote_due(zset, base, task_prefix, now, limit, from)
  local due = redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, limit)
  local promoted = 0
  for _, id in ipairs(due) do
    redis.call('ZREM', zset, id)
    local task = task_prefix .. id
    local state = redis.call('HMGET', task, 'status', 'priority')
    if state[1] == from then
      local entry = enqueue(base, state[2], id)
      if from == 'scheduled' then
        redis.call('HSET', task, 'status', 'pending', 'entry', entry)
      else
        redis.call('HSET', task, 'entry', entry)
      end
      promoted = promoted + 1
    end
  end
  return promoted
end

-- The stream holding task hash `task`'s queue entry (from its `priority` field).
local function task_stream(base, task)
  return level_stream(base, redis.call('HGET', task, 'priority'))
end

-- The consumer group's pending count (tasks running) and last delivered id of a stream: 0 and
-- 0-0 when the stream or the group does not exist.
local function group_state(stream, group)
  local ok, groups = tolerant_call('XINFO', 'GROUPS', stream)
  if ok then
    for _, g in ipairs(groups) do
      local info = {}
      for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
      if info['name'] == group then return tonumber(info['pending']) or 0, info['last-delivered-id'] end
    end
  end
  return 0, '0-0'
end

-- Every level stream of the queue, highest priority first: {level, stream} pairs (the default
-- level always among them; levels-set members that are not valid levels are ignored).
local function level_streams(base)
  local seen, levels = { [DEFAULT_LEVEL] = true }, { DEFAULT_LEVEL }
  for _, member in ipairs(redis.call('SMEMBERS', base .. ':levels')) do
    local p = tonumber(member)
    if p and p >= 0 and p <= 9 and p == math.floor(p) and not seen[p] then
      seen[p] = true
      levels[#levels + 1] = p
    end
  end
  table.sort(levels, function(a, b) return a > b end)
  local out = {}
  for i, p in ipairs(levels) do out[i] = { p, level_stream(base, p) } end
  return out
end
