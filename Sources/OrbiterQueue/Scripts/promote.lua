-- promote: delayed retries and scheduled tasks whose time has come go on their priority's stream.
--
-- claim.lua does the same on every claim; this script is the standalone form (tests, tools).
-- KEYS[1] delayed zset   {orbiter:Q}:delayed   (retries: task id scored by when it may run again, ms)
-- KEYS[2] queue stream   {orbiter:Q}:queue (the default level's; others are built from it: lib.lua)
-- KEYS[3] scheduled zset {orbiter:Q}:scheduled (`submit --delay/--at`); optional
-- ARGV[1] now, milliseconds since 1970
-- ARGV[2] at most this many tasks (from each set)
-- ARGV[3] task key prefix {orbiter:Q}:task: — task keys are built here; they share the queue's
--         hash tag, so they live in this script's slot on Redis Cluster too
-- Returns the number of tasks promoted.
local limit = tonumber(ARGV[2])
local promoted = promote_due(KEYS[1], KEYS[2], ARGV[3], ARGV[1], limit, 'retrying')
if KEYS[3] then promoted = promoted + promote_due(KEYS[3], KEYS[2], ARGV[3], ARGV[1], limit, 'scheduled') end
return promoted
