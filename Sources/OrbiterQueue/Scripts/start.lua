-- start: claimed queue entries become `running` tasks, or are dropped — a batch in one step.
--
-- A worker starts everything one XREADGROUP (or takeover) gave it in one call. A task cancelled
-- (or finished) while it waited is acknowledged and deleted, never run. Each start is a new
-- attempt with a fresh lease token: checkpoints, events, renewals and the outcome of this run are
-- accepted only with it, so a run that lost its lease (taken over while its worker stalled) can
-- no longer write.
-- KEYS[1]      queue stream  {orbiter:Q}:queue
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
-- (reply.lua), applied to that checkpoint.
local out = {}
for i = 2, #KEYS do
  local task, entry = KEYS[i], ARGV[i + 3]
  local state = redis.call('HMGET', task, 'status', 'payload', 'signature', 'checkpoint', 'attempts', 'handbacks', 'parks', 'reply')
  local status = state[1]
  if status == 'pending' or status == 'retrying' then
    local attempts = (tonumber(state[5]) or 0) + 1
    local lease = ARGV[4] .. '.' .. (i - 1)
    redis.call('HSET', task, 'status', 'running', 'worker_id', ARGV[2], 'started_at', ARGV[3], 'entry', entry,
      'attempts', attempts, 'lease', lease, 'seq', 0)
    out[#out + 1] = {'run', state[2], attempts - (tonumber(state[6]) or 0) - (tonumber(state[7]) or 0), state[3] or '',
                     state[4] or '', lease, state[8] or ''}
  else
    redis.call('XACK', KEYS[1], ARGV[1], entry)
    redis.call('XDEL', KEYS[1], entry)
    out[#out + 1] = {'drop', status or 'missing'}
  end
end
return out
