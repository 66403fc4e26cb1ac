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

-- Submitting: submit.lua stores one task, submit_many.lua a batch, with the same checks and writes.
--
-- The idempotency key's verdict on a new submit: nil when the key is unused or none was given
-- (its name then ends in ':idem:'), else the reply: {"existing", task id}, or an IDEMPOTENCY
-- error when the key was given before with other work (another digest).
local function idempotency_verdict(idem_key, digest)
  if string.sub(idem_key, -6) == ':idem:' then return nil end
  local existing = redis.call('GET', idem_key)
  if not existing then return nil end
  local id, stored = string.match(existing, '^(%S+) (%S+)$')
  if not id then return {'existing', existing} end -- stored without a digest (an older client)
  if stored ~= digest then return redis.error_reply('IDEMPOTENCY ' .. id) end
  return {'existing', id}
end

-- How many tasks the queue holds for its max pending: every level stream's entries (waiting or
-- running; entries are never trimmed) and the scheduled set's members.
local function tasks_held(base, scheduled)
  local held = 0
  for _, level in ipairs(level_streams(base)) do held = held + redis.call('XLEN', level[2]) end
  if scheduled then held = held + redis.call('ZCARD', scheduled) end
  return held
end
local function full_message(held, limit)
  return 'FULL ' .. held .. ' tasks waiting or running (max pending ' .. limit .. '); try again later'
end

-- Stores new task `t` ({id, payload, signature, digest, metadata, priority, run_at, agent}:
-- strings, "" for none; agent is the root's name, kept so lists can filter by it) in hash `task`
-- as `pending` with its queue entry, or as `scheduled` in zset `scheduled` when its start time is
-- after `created_at` (the workers are woken through the wake stream to learn the new due time);
-- records its idempotency key. The caller has checked that the task is new, the room and the
-- bundle, and adds it to the time index.
local function store_task(task, base, scheduled, t, created_at, bundle_sha, idem_key, idem_ttl)
  local fields = { 'payload', t.payload, 'created_at', created_at, 'attempts', 0, 'bundle', bundle_sha,
                   'signature', t.signature, 'metadata', t.metadata, 'agent', t.agent }
  if t.priority ~= '' then
    fields[#fields + 1] = 'priority'
    fields[#fields + 1] = level_of(t.priority)
  end
  local run_at = tonumber(t.run_at)
  if run_at and run_at > tonumber(created_at) then
    redis.call('HSET', task, 'status', 'scheduled', 'run_at', run_at, unpack(fields))
    redis.call('ZADD', scheduled, run_at, t.id)
    redis.call('XADD', base .. ':wake', 'MAXLEN', '~', 100, '*', 'due', run_at)
  else
    local entry = enqueue(base, t.priority, t.id)
    redis.call('HSET', task, 'status', 'pending', 'entry', entry, unpack(fields))
  end
  if string.sub(idem_key, -6) ~= ':idem:' then
    redis.call('SET', idem_key, t.id .. ' ' .. t.digest, 'EX', idem_ttl)
  end
end

-- Retention of finished tasks. A finished task's hash and events stream are deleted by the
-- workers' sweep (sweep.lua) once their time has come, instead of each getting an EXPIRE: a batch
-- of finishes then costs one ZADD per kind for all its tasks. The two sorted sets hold task ids
-- scored by when the hash (`{orbiter:Q}:expiry:tasks`) and the stream (`...:expiry:events`) go.
-- `new_retention(tasks_zset, events_zset, task_ttl, events_ttl)` collects a batch; `retain` adds
-- a task finished at `at` (ms); `commit_retention` writes the batch.
local function new_retention(tasks_zset, events_zset, task_ttl, events_ttl)
  return { tasks_zset = tasks_zset, events_zset = events_zset, task_ms = tonumber(task_ttl) * 1000,
           events_ms = tonumber(events_ttl) * 1000, tasks = {}, events = {} }
end
local function retain(r, id, at)
  local t, e = r.tasks, r.events
  t[#t + 1] = tonumber(at) + r.task_ms
  t[#t + 1] = id
  e[#e + 1] = tonumber(at) + r.events_ms
  e[#e + 1] = id
end
local function commit_retention(r)
  if #r.tasks > 0 then
    redis.call('ZADD', r.tasks_zset, unpack(r.tasks))
    redis.call('ZADD', r.events_zset, unpack(r.events))
  end
end

-- Finishing: finish.lua ends one task, finish_many.lua a worker's batch, with the same writes.
--
-- Ends task hash `task` with outcome `o` ({id, worker, lease, status, result, error, event,
-- at, in_event, cap, first, events}: strings but `events`; in_event "1" copies the result into the
-- terminal event's entry) if it is `running` under `o.lease` of `o.worker`: appends the run's
-- events that were still waiting when it ended (`o.events`, a list of JSON texts numbered from
-- `o.first` within the run, as append.lua's; those stored already are skipped; the stream capped
-- near `o.cap` entries), writes the outcome, appends the terminal event to stream `events` (with
-- `outcome`, `error` and, when in_event, `result`), adds the hash and the stream to `retention`
-- (`retain`) and records a failed task in the dead letters stream `dead`. Returns false when the
-- task is not running under that lease (left alone), else the stream holding its claimed queue
-- entry (built from `base` and its priority) and the entry id (false when none), which the
-- caller acknowledges and deletes (a batch does so once per stream), and counts.
local function finish_task(task, events, dead, base, o, retention)
  local state = redis.call('HMGET', task, 'status', 'worker_id', 'entry', 'attempts', 'lease', 'priority', 'seq')
  if state[1] ~= 'running' or state[2] ~= o.worker or state[5] ~= o.lease then return false end
  local stored = tonumber(state[7]) or 0
  for seq = math.max(o.first, stored + 1), o.first + #o.events - 1 do
    redis.call('XADD', events, 'MAXLEN', '~', o.cap, '*', 'event', o.events[seq - o.first + 1])
  end
  redis.call('HSET', task, 'status', o.status, 'completed_at', o.at, 'result', o.result, 'error', o.error)
  if o.in_event == '1' then
    redis.call('XADD', events, '*', 'event', o.event, 'outcome', o.status, 'error', o.error, 'result', o.result)
  else
    redis.call('XADD', events, '*', 'event', o.event, 'outcome', o.status, 'error', o.error)
  end
  retain(retention, o.id, o.at)
  if o.status == 'failed' then
    redis.call('XADD', dead, 'MAXLEN', '~', 10000, '*', 'task', o.id, 'reason', o.error, 'attempts', state[4] or '0', 'at', o.at)
  end
  return { level_stream(base, state[6]), state[3] or false }
end

-- The run's events that ride in a finish: `n` JSON texts at ARGV[at..at+n-1], as a list.
local function events_at(at, n)
  local list = {}
  for i = 1, n do list[i] = ARGV[at + i - 1] end
  return list
end

-- Adds `n` finished tasks to the per-minute counter `key` (kept 2 h from its first count).
local function count_finished(key, n)
  if redis.call('INCRBY', key, n) == n then redis.call('EXPIRE', key, 7200) end
end
