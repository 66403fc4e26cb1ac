-- stats: a consistent snapshot of one queue, read in one step.
--
-- KEYS[1] queue stream   {orbiter:Q}:queue (the default level's; other levels' are built from it)
-- KEYS[2] delayed zset   {orbiter:Q}:delayed
-- KEYS[3] dead letters   {orbiter:Q}:dead
-- KEYS[4] workers zset   {orbiter:Q}:workers
-- KEYS[5] waiting zset   {orbiter:Q}:waiting (parked tasks)
-- KEYS[6] scheduled zset {orbiter:Q}:scheduled (submitted with a delay, not yet due); optional
-- KEYS[7] concurrency cap {orbiter:Q}:concurrency; optional
-- ARGV[1] consumer group
-- ARGV[2] now, milliseconds since 1970
-- ARGV[3] key prefix {orbiter:Q}: (worker hashes and per-minute counters are built from it; they
--         share the queue's hash tag, so they live in this script's slot on Redis Cluster too)
-- Returns {pending, running, delayed, dead, completed_last_hour, failed_last_hour,
--          oldest_pending_ms (-1 when none), workers_alive, workers_known, waiting, scheduled,
--          concurrency cap as stored ("" when none), the first of the last 60 minutes (minutes
--          since 1970), {completed per minute}, {failed per minute} (60 each, oldest first)}.
--          pending, running and oldest cover every priority level's stream (lib.lua).
-- Summed over the priority levels' streams (lib.lua); the oldest pending task is the oldest
-- undelivered entry of any level.
local queued, running, oldest = 0, 0, -1
for _, level in ipairs(level_streams(KEYS[1])) do
  local stream = level[2]
  if redis.call('EXISTS', stream) == 1 then
    queued = queued + redis.call('XLEN', stream)
    local held, last_delivered = group_state(stream, ARGV[1])
    running = running + held
    local first = redis.call('XRANGE', stream, '(' .. last_delivered, '+', 'COUNT', 1)
    if first[1] then
      local age = tonumber(ARGV[2]) - tonumber(string.match(first[1][1], '^(%d+)'))
      if age > oldest then oldest = age end
    end
  end
end
local now_minute = math.floor(tonumber(ARGV[2]) / 60000)
local completed, failed = 0, 0
local completed_by_minute, failed_by_minute = {}, {}
for m = now_minute - 59, now_minute do
  local c = tonumber(redis.call('GET', ARGV[3] .. 'count:completed:' .. m) or '0')
  local f = tonumber(redis.call('GET', ARGV[3] .. 'count:failed:' .. m) or '0')
  completed, failed = completed + c, failed + f
  completed_by_minute[#completed_by_minute + 1] = c
  failed_by_minute[#failed_by_minute + 1] = f
end
local alive, known = 0, 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  known = known + 1
  local hb = redis.call('HMGET', ARGV[3] .. 'worker:' .. id, 'last_heartbeat', 'heartbeat_ttl', 'status')
  if hb[1] and hb[3] ~= 'stopped' and tonumber(ARGV[2]) - tonumber(hb[1]) <= tonumber(hb[2] or '30') * 1000 then
    alive = alive + 1
  end
end
return {math.max(queued - running, 0), running, redis.call('ZCARD', KEYS[2]),
        redis.call('EXISTS', KEYS[3]) == 1 and redis.call('XLEN', KEYS[3]) or 0,
        completed, failed, oldest, alive, known, redis.call('ZCARD', KEYS[5]),
        KEYS[6] and redis.call('ZCARD', KEYS[6]) or 0,
        KEYS[7] and (redis.call('GET', KEYS[7]) or '') or '',
        now_minute - 59, completed_by_minute, failed_by_minute}
