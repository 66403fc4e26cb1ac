-- penalize.lua: a provider answered 429: no call of this model starts, on any worker, before
-- now + retry-after (the model's next free time, blocked_until).
-- KEYS[1] the limit hash ({orbiter:limits}:m:<name>)
-- ARGV[1] retry-after, ms (clamped to 0..3,600,000)
-- Returns ms until the model's next free time; -1 when the limit was removed meanwhile.
local now = now_ms()
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ra = tonumber(ARGV[1]) or 0
if ra ~= ra or ra < 0 then ra = 0 end
if ra > 3600000 then ra = 3600000 end
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked_until'))
if blocked == nil or blocked ~= blocked or blocked > now + 3600000 or blocked < now + ra then
  blocked = now + ra
  redis.call('HSET', KEYS[1], 'blocked_until', string.format('%.3f', blocked))
end
redis.call('HINCRBY', KEYS[1], 'rejections', 1)
return math.ceil(blocked - now)
