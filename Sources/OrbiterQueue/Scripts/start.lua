-- start: claimed queue entries become `running` tasks, or are dropped — a batch in one step.
--
-- A worker starts everything one XREADGROUP (or takeover) gave it in one call. A task cancelled
-- (or finished) while it waited is acknowledged and deleted, never run. Each start is a new
-- attempt with a fresh lease token: checkpoints, events, renewals and the outcome of this run are
-- accepted only with it, so a run that lost its lease (taken over while its worker stalled) can
-- no longer write.
-- KEYS[1]      queue stream the entries were read from ({orbiter:Q}:queue or a level's, :pN)
-- KEYS[2..n+1] task hashes   {orbiter:Q}:task:<id>, one per claimed entry
-- ARGV[1]      consumer group
-- ARGV[2]      worker id
-- ARGV[3]      started_at, milliseconds since 1970
-- ARGV[4]      lease token prefix (random, new per call); task i's token is <prefix>.<i>
-- ARGV[5..n+4] queue entry ids, in the order of KEYS[2..]
-- Returns one reply per task, in order: {"run", payload, attempt, signature, checkpoint, lease, reply},
-- where attempt counts this start among those that may fail: starts (`attempts`) minus hand-backs
-- and parks, whose runs were stopped by their worker or by a wait for a person, not failed;
-- or {"drop", reason}; the checkpoint (JSON, "" when none) lets a taken-over task resume after
-- its last completed step, and the reply ("" when none) is a person's answer to a parked task
-- (reply.lua), applied to that checkpoint. The logic is lib.lua's start_entry, shared with claim.lua.
local out = {}
for i = 2, #KEYS do
  out[#out + 1] = start_entry(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4] .. '.' .. (i - 1), KEYS[i], ARGV[i + 3])
end
return out
