-- reply: a person answers a parked task (`waiting`), which goes back on the queue (`pending`).
--
-- The reply (approve, reject with a reason, or an answer) is stored with the request id it
-- answers, and the task gets a fresh queue entry: any worker claims it within milliseconds and
-- resumes it from its checkpoint with the reply. Refused, changing nothing, unless the task is
-- waiting — so a second reply never resumes a task twice — and unless the reply fits what it
-- waits for (approve for an approval, an answer for a question; reject fits both). A signed reply
-- names the request it was signed for, and is refused when the task waits for another one.
-- KEYS[1] task hash      {orbiter:Q}:task:<id>
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; the task's own level stream is built from it: lib.lua)
-- KEYS[3] waiting zset   {orbiter:Q}:waiting
-- ARGV[1] task id
-- ARGV[2] kind: approve | reject | answer
-- ARGV[3] the answer, or the reason of a rejection
-- ARGV[4] the id of the request the reply is for, or "" for whatever the task waits for now
-- ARGV[5] the reply's signature (HMAC hex, with ORBITER_SECRET; bound to that request id) or ""
-- Returns "resumed", "not_found", "not_waiting:<status>", "mismatch:<kind of request>" (approval
-- or question), or "moved" (it waits for another request than ARGV[4] now).
local state = redis.call('HMGET', KEYS[1], 'status', 'pending')
if not state[1] then return 'not_found' end
if state[1] ~= 'waiting' then return 'not_waiting:' .. state[1] end
local request = cjson.decode(state[2])
if ARGV[4] ~= '' and request.id ~= ARGV[4] then return 'moved' end
if (ARGV[2] == 'approve' and request.kind ~= 'approval') or (ARGV[2] == 'answer' and request.kind ~= 'question') then
  return 'mismatch:' .. tostring(request.kind)
end
local reply
if ARGV[2] == 'approve' then reply = { approved = true }
elseif ARGV[2] == 'reject' then reply = { rejected = ARGV[3] }
else reply = { answer = ARGV[3] } end
local entry = enqueue(KEYS[2], redis.call('HGET', KEYS[1], 'priority'), ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'pending', 'entry', entry,
  'reply', cjson.encode({ request = request.id, reply = reply, signature = ARGV[5] }))
redis.call('HDEL', KEYS[1], 'pending')
redis.call('ZREM', KEYS[3], ARGV[1])
return 'resumed'
