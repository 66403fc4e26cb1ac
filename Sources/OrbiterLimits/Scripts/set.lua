-- set.lua: creates or changes a model's limit (orbiter limits set). Bucket state is kept: its
-- times are absolute, so a changed limit applies from the next call.
-- KEYS[1] the limit hash ({orbiter:limits}:m:<name>), KEYS[2] the index set ({orbiter:limits}:models)
-- ARGV[1] the limit's name; then field/value pairs (rpm itpm otpm tpm period_ms out_est;
--         an empty value removes the field)
-- Returns 1 when the limit is new, 0 when it was changed.
local new = redis.call('EXISTS', KEYS[1]) == 0 and 1 or 0
for i = 2, #ARGV - 1, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('SADD', KEYS[2], ARGV[1])
return new
