-- remove.lua: deletes a model's limit and its bucket state (orbiter limits remove).
-- KEYS[1] the limit hash ({orbiter:limits}:m:<name>), KEYS[2] the index set ({orbiter:limits}:models)
-- ARGV[1] the limit's name
-- Returns 1 when it existed, 0 when there was no such limit.
local existed = redis.call('DEL', KEYS[1])
local listed = redis.call('SREM', KEYS[2], ARGV[1])
if existed + listed > 0 then return 1 end
return 0
