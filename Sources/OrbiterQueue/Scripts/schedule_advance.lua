-- schedule_advance: moves a schedule from the tick a worker handled to its next tick — only if
-- it is still at that tick (compare-and-set), so racing workers advance it once and a schedule
-- replaced or removed meanwhile is left as it is now.
--
-- KEYS[1] schedules zset   {orbiter:Q}:schedules
-- KEYS[2] schedule hash    {orbiter:Q}:schedule:<name>
-- ARGV[1] name
-- ARGV[2] the tick handled: the member's score exactly as read (ZRANGE ... WITHSCORES)
-- ARGV[3] next tick, ms since 1970; "" to drop the member (its hash is gone, or it never fires again)
-- ARGV[4] the tick handled, ISO 8601 ("" when none fired)
-- ARGV[5] the task id it fired ("" when none)
-- ARGV[6] now, ms since 1970
-- ARGV[7] why the tick did not fire, or ""
-- Returns 1 when advanced, 0 when the schedule was no longer at that tick.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[5] ~= '' then
    redis.call('HSET', KEYS[2], 'last_tick', ARGV[4], 'last_task', ARGV[5], 'last_fired_at', ARGV[6], 'last_error', '')
  elseif ARGV[7] ~= '' then
    redis.call('HSET', KEYS[2], 'last_error', ARGV[7], 'last_error_at', ARGV[6])
  end
end
return 1
