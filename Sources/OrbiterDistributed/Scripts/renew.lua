-- renew: a worker renews the leases of the tasks it is still running, and only those.
--
-- XCLAIM with min-idle 0 resets an entry's idle time, but would also take back an entry another
-- worker has just taken over; checking the task's worker first keeps a slow worker from doing so.
-- KEYS[1]   queue stream  {orbiter:Q}:queue
-- KEYS[2..] task hashes   {orbiter:Q}:task:<id>, one per entry in ARGV[3..]
-- ARGV[1] consumer group
-- ARGV[2] worker id (the consumer)
-- ARGV[3..] queue entry ids, in the order of KEYS[2..]
-- Returns the number of leases renewed.
local renewed = 0
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'worker_id') == ARGV[2] and redis.call('HGET', KEYS[i], 'status') == 'running' then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i + 1], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
