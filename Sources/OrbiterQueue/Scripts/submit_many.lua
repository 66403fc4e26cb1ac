-- submit_many: a batch of new tasks become `pending` (or `scheduled`) — each as submit.lua
-- stores one, in one step for the batch (`distributedMany`, `orbiter submit --batch`).
--
-- One call instead of one per task: the script call, the bundle's check (or storing), the
-- "is any of these ids taken" EXISTS, the room count and the time index's ZADD are paid once per
-- batch; each task still gets its own idempotency check, queue entry and hash.
-- KEYS[1] queue stream     {orbiter:Q}:queue (the default level's; the others are built from it: lib.lua)
-- KEYS[2] time index zset  {orbiter:Q}:index
-- KEYS[3] bundle string    {orbiter:Q}:bundle:<sha256> (ignored when ARGV[2] is "")
-- KEYS[4] scheduled zset   {orbiter:Q}:scheduled
-- KEYS[5..] per task, in order: its hash {orbiter:Q}:task:<id> and its idempotency key
--           {orbiter:Q}:idem:<key> ({orbiter:Q}:idem: when none)
-- ARGV[1] created_at, milliseconds since 1970 (the batch's)
-- ARGV[2] bundle sha256, or "" for tasks without a bundle
-- ARGV[3] bundle JSON, or "" when the caller believes it is stored already
-- ARGV[4] bundle TTL seconds (set or refreshed once per call)
-- ARGV[5] max pending (as submit.lua's ARGV[7]: 0 = no limit); counted once, then per task stored
-- ARGV[6] idempotency TTL seconds
-- ARGV[7..] per task, eight values: task id, payload JSON, payload signature or "", work digest
--           (with an idempotency key), metadata JSON, priority 0..9 or "", run at ms or "",
--           the agent's (or swarm's) name
-- Returns one reply per task, in order: {"new", id}, {"existing", id} (as submit.lua: the id or
-- the idempotency key was seen; also an id given twice in the batch), or {"error", message}
-- ("FULL ..." / "IDEMPOTENCY <task id>"), the other tasks going on; or the error "NOBUNDLE ..."
-- for the whole batch, with nothing stored.
local created_at, sha = ARGV[1], ARGV[2]
local count = (#KEYS - 4) / 2
if count ~= math.floor(count) or #ARGV ~= 6 + count * 8 then
  return redis.error_reply('ERR submit_many: ' .. (#KEYS - 4) .. ' task keys and ' .. (#ARGV - 6) .. ' task values do not pair up')
end
if count == 0 then return {} end
if sha ~= '' then
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  elseif redis.call('EXPIRE', KEYS[3], ARGV[4]) == 0 then
    return redis.error_reply('NOBUNDLE script bundle ' .. sha .. ' is not stored')
  end
end
-- One EXISTS for the whole batch; only when some id is taken is each looked at alone.
local tasks = {}
for i = 1, count do tasks[i] = KEYS[3 + 2 * i] end
local any_taken = redis.call('EXISTS', unpack(tasks)) > 0
local limit = tonumber(ARGV[5]) or 0
local held = limit > 0 and tasks_held(KEYS[1], KEYS[4]) or 0
local out, seen, indexed = {}, {}, {}
for i = 1, count do
  local a = 7 + (i - 1) * 8
  local t = { id = ARGV[a], payload = ARGV[a + 1], signature = ARGV[a + 2], digest = ARGV[a + 3],
              metadata = ARGV[a + 4], priority = ARGV[a + 5], run_at = ARGV[a + 6], agent = ARGV[a + 7] }
  local task, idem = tasks[i], KEYS[4 + 2 * i]
  local reply = idempotency_verdict(idem, t.digest)
  if type(reply) == 'table' and reply.err then
    reply = { 'error', reply.err }
  elseif not reply and (seen[t.id] or (any_taken and redis.call('EXISTS', task) == 1)) then
    reply = { 'existing', t.id }
  elseif not reply and limit > 0 and held >= limit then
    reply = { 'error', full_message(held, limit) }
  elseif not reply then
    store_task(task, KEYS[1], KEYS[4], t, created_at, sha, idem, ARGV[6])
    seen[t.id] = true
    held = held + 1
    indexed[#indexed + 1] = created_at
    indexed[#indexed + 1] = t.id
    reply = { 'new', t.id }
  end
  out[i] = reply
end
if #indexed > 0 then redis.call('ZADD', KEYS[2], unpack(indexed)) end
return out
