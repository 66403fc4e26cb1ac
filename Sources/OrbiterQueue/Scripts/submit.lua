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
-- ARGV[6] bundle TTL seconds (set or refreshed unless ARGV[15] says it was lately)
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
-- ARGV[15] "1" when ARGV[3] is "" and this client set or refreshed the bundle's TTL (ARGV[6])
--          lately (TaskBroker: within a minute): the bundle's existence is then checked in the
--          same EXISTS as the task's, not refreshed; optional
-- Returns {"new", task id}, or {"existing", task id} when the idempotency key was seen within its
-- TTL with the same digest or a task with this id exists already (a retry after a lost reply: the
-- client chose the id, so a retried submit never makes a second task); or an error: "FULL ..." /
-- "NOBUNDLE ..." / "IDEMPOTENCY <task id>" (the key belongs to that task, submitted with other work).
-- The checks and writes are lib.lua's (idempotency_verdict, tasks_held, store_task), shared with
-- submit_many.lua.
local verdict = idempotency_verdict(KEYS[5], ARGV[10])
if verdict then return verdict end
-- EXISTS counts a key named twice twice: task there = 2 or 3, bundle there = odd.
local probe_bundle = ARGV[5] ~= '' and ARGV[3] == '' and ARGV[15] == '1'
local bundle_gone = false
if probe_bundle then
  local found = redis.call('EXISTS', KEYS[1], KEYS[1], KEYS[4])
  if found >= 2 then return {'existing', ARGV[1]} end
  bundle_gone = found == 0
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return {'existing', ARGV[1]}
end
local limit = tonumber(ARGV[7]) or 0
if limit > 0 then
  local held = tasks_held(KEYS[2], KEYS[6])
  if held >= limit then return redis.error_reply(full_message(held, limit)) end
end
if ARGV[5] ~= '' then
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[6])
  elseif (probe_bundle and bundle_gone) or (not probe_bundle and redis.call('EXPIRE', KEYS[4], ARGV[6]) == 0) then
    return redis.error_reply('NOBUNDLE script bundle ' .. ARGV[5] .. ' is not stored')
  end
end
store_task(KEYS[1], KEYS[2], KEYS[6], { id = ARGV[1], payload = ARGV[2], signature = ARGV[8] or '', digest = ARGV[10] or '',
  metadata = ARGV[11] or '', priority = ARGV[12] or '', run_at = ARGV[13] or '', agent = ARGV[14] or '' }, ARGV[4], ARGV[5], KEYS[5], ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return {'new', ARGV[1]}
