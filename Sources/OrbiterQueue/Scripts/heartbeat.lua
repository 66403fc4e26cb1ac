-- heartbeat: a worker says it is alive, with what it is doing.
--
-- A worker id belongs to one live process at a time: each process has its own instance token,
-- and a start is refused while another instance holding the id is alive (not stopped, and its
-- last heartbeat younger than its TTL). The hash outlives the heartbeat TTL (a day, like the
-- set), so `worker list` still shows a dead worker's last counts.
-- KEYS[1] worker hash   {orbiter:Q}:worker:<id>
-- KEYS[2] workers zset  {orbiter:Q}:workers   (worker id scored by last heartbeat, ms)
-- ARGV[1] worker id
-- ARGV[2] now, milliseconds since 1970
-- ARGV[3] heartbeat TTL seconds
-- ARGV[4] this process's instance token (random, new per start)
-- ARGV[5] "start" (the first heartbeat: refused when another live instance holds the id),
--         "beat", or "stop" (the last: written only while the id is still this instance's)
-- ARGV[6..] field, value pairs (status, tasks_processed, tasks_failed, current_tasks, ...)
-- Forgets workers silent for a day, so the set does not grow without bound. Returns 1, 0 for a
-- "stop" of an id another instance holds now, or the error "INUSE <ms since its last heartbeat>
-- <its heartbeat TTL s> <its hostname>".
local now = tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'instance', 'last_heartbeat', 'heartbeat_ttl', 'status', 'hostname')
local other = held[1] and held[1] ~= ARGV[4]
if other and ARGV[5] == 'start' and held[4] ~= 'stopped' and held[2] then
  local ago = now - tonumber(held[2])
  local ttl = tonumber(held[3] or '30')
  if ago <= ttl * 1000 then
    return redis.error_reply('INUSE ' .. ago .. ' ' .. ttl .. ' ' .. (held[5] or '?'))
  end
end
if other and ARGV[5] == 'stop' then return 0 end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[2], 'heartbeat_ttl', ARGV[3], 'instance', ARGV[4], unpack(fields))
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 86400000)
return 1
