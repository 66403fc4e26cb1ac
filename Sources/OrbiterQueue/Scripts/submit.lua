-- submit: a new task becomes `pending` — stored, queued and indexed in one step.
--
-- KEYS[1] task hash        {orbiter:Q}:task:<id>
-- KEYS[2] queue stream     {orbiter:Q}:queue (the default level's; other levels' are built from it: lib.lua)
-- KEYS[3] time index zset  {orbiter:Q}:index
-- KEYS[4] bundle string    {orbiter:Q}:bundle:<sha256>   (ignored when ARGV[3] is empty and ARGV[5] is "")
-- ARGV[1] task id
-- ARGV[2] payload JSON
-- ARGV[3] bundle JSON, or "" when the caller believes it is stored already
-- ARGV[4] created_at, milliseconds since 1970
-- ARGV[5] bundle sha256, or "" for a task without a bundle
-- ARGV[6] bundle TTL seconds (refreshed on every submit)
-- ARGV[7] max pending: refuse the task when the queue's streams (every priority level) and its
--         scheduled set already hold this many tasks (waiting or running; 0 = no limit). Entries
--         are never trimmed.
-- ARGV[8] payload signature (HMAC-SHA256 hex) or ""
-- ARGV[9] idempotency TTL seconds (used with KEYS[5])
-- ARGV[10] digest of the work (agent, bundle, input, messages), stored with the idempotency key
--          as "<task id> <digest>"; the key given again with another digest is refused
-- ARGV[11] metadata JSON (also inside the payload; kept apart so status reads need not fetch the
--          payload); optional
-- KEYS[5] idempotency key {orbiter:Q}:idem:<key>, or {orbiter:Q}:idem: when none is given
-- KEYS[6] scheduled zset   {orbiter:Q}:scheduled (task id scored by when it may start, ms); optional
-- ARGV[12] priority 0..9 (9 first), "" for the default (5); optional
-- ARGV[13] run at, milliseconds since 1970: later than created_at (ARGV[4]) makes the task
--          `scheduled` (in KEYS[6], no queue entry yet; the workers are woken through
--          {orbiter:Q}:queue:wake to learn the new due time); "" or not later: queued now; optional
-- ARGV[14] the agent's (or swarm's) name, kept as `agent` so lists can filter by it without
--          reading payloads; optional
-- Returns {"new", task id}, or {"existing", task id} when the idempotency key was seen within its
-- TTL with the same digest or a task with this id exists already (a retry after a lost reply: the
-- client chose the id, so a retried submit never makes a second task); or an error: "FULL ..." /
-- "NOBUNDLE ..." / "IDEMPOTENCY <task id>" (the key belongs to that task, submitted with other work).
if string.sub(KEYS[5], -6) ~= ':idem:' then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    local id, digest = string.match(existing, '^(%S+) (%S+)$')
    if not id then return {'existing', existing} end -- stored without a digest (an older client)
    if digest ~= ARGV[10] then return redis.error_reply('IDEMPOTENCY ' .. id) end
    return {'existing', id}
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'existing', ARGV[1]} end
local limit = tonumber(ARGV[7]) or 0
if limit > 0 then
  local held = 0
  for _, level in ipairs(level_streams(KEYS[2])) do held = held + redis.call('XLEN', level[2]) end
  if KEYS[6] then held = held + redis.call('ZCARD', KEYS[6]) end
  if held >= limit then
    return redis.error_reply('FULL ' .. held .. ' tasks waiting or running (max pending ' .. limit .. '); try again later')
  end
end
if ARGV[5] ~= '' then
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[6])
  elseif redis.call('EXPIRE', KEYS[4], ARGV[6]) == 0 then
    return redis.error_reply('NOBUNDLE script bundle ' .. ARGV[5] .. ' is not stored')
  end
end
local run_at = tonumber(ARGV[13] or '')
if run_at and run_at > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'scheduled', 'payload', ARGV[2], 'created_at', ARGV[4],
    'attempts', 0, 'bundle', ARGV[5], 'signature', ARGV[8], 'metadata', ARGV[11] or '', 'run_at', run_at, 'agent', ARGV[14] or '')
  redis.call('ZADD', KEYS[6], run_at, ARGV[1])
  redis.call('XADD', KEYS[2] .. ':wake', 'MAXLEN', '~', 100, '*', 'due', run_at)
else
  local entry = enqueue(KEYS[2], ARGV[12], ARGV[1])
  redis.call('HSET', KEYS[1], 'status', 'pending', 'payload', ARGV[2], 'created_at', ARGV[4],
    'attempts', 0, 'entry', entry, 'bundle', ARGV[5], 'signature', ARGV[8], 'metadata', ARGV[11] or '',
    'agent', ARGV[14] or '')
end
if ARGV[12] and ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'priority', level_of(ARGV[12])) end
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
if string.sub(KEYS[5], -6) ~= ':idem:' then
  redis.call('SET', KEYS[5], ARGV[1] .. ' ' .. ARGV[10], 'EX', ARGV[9])
end
return {'new', ARGV[1]}
