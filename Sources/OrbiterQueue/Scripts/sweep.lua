-- sweep: finished tasks whose retention is over are deleted (their hash, or their events stream).
--
-- finish.lua and finish_many.lua list a finished task in two sorted sets, scored by when its
-- hash and its events stream go (lib.lua's retention); workers call this every few seconds.
-- Several workers sweeping at once is harmless: each deletes what is due and not deleted yet.
-- The keys deleted are built from the sets' members: `{orbiter:Q}:task:<id>` and
-- `{orbiter:Q}:events:<id>`, named after KEYS[1] and so in its hash slot (like promote.lua's,
-- the documented exception to "every key in KEYS"). A member that is not a task id is dropped.
-- KEYS[1] retention of task hashes  {orbiter:Q}:expiry:tasks
-- KEYS[2] retention of event streams {orbiter:Q}:expiry:events
-- ARGV[1] now, milliseconds since 1970
-- ARGV[2] the most members of each set to handle in this call
-- Returns how many members were due, over both sets (the caller calls again while it is 2 × ARGV[2]).
local prefix = string.match(KEYS[1], '^(.*:)expiry:tasks$')
if not prefix or KEYS[2] ~= prefix .. 'expiry:events' then
  return redis.error_reply('ERR sweep: KEYS must be a queue\'s {orbiter:Q}:expiry:tasks and {orbiter:Q}:expiry:events')
end
local swept = 0
for _, set in ipairs({ { KEYS[1], 'task:' }, { KEYS[2], 'events:' } }) do
  local due = redis.call('ZRANGEBYSCORE', set[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  if #due > 0 then
    local keys = {}
    for _, id in ipairs(due) do
      if #id == 32 and string.match(id, '^[0-9a-f]+$') then keys[#keys + 1] = prefix .. set[2] .. id end
    end
    if #keys > 0 then redis.call('UNLINK', unpack(keys)) end
    redis.call('ZREM', set[1], unpack(due))
    swept = swept + #due
  end
end
return swept
