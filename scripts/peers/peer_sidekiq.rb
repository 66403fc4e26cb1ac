# Sidekiq (Debian ruby-sidekiq): the no-op job and the bench client, same protocol as harness.py.
#   worker: sidekiq -r ./peer_sidekiq.rb -q QUEUE -c 10   (REDIS_URL set; see scripts/bench_peers.py)
#   client: ruby peer_sidekiq.rb client URL QUEUE N e2e|drain
require "json"
require "sidekiq"

class NoopJob
  include Sidekiq::Worker

  def perform(i); end
end

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

if __FILE__ == $PROGRAM_NAME
  _mode, url, queue, n, phase = ARGV
  n = Integer(n)
  threads = 16 # as harness.py: a synchronous client enqueues from 16 threads
  Sidekiq.configure_client { |c| c.redis = { url: url, size: threads } }
  redis = Redis.new(url: url)
  t0 = now
  if phase == "e2e"
    nxt = 0
    lock = Mutex.new
    Array.new([threads, n].min) do
      Thread.new do
        loop do
          i = lock.synchronize { nxt += 1 } - 1
          break if i >= n

          Sidekiq::Client.push("class" => NoopJob, "args" => [i], "queue" => queue)
        end
      end
    end.each(&:join)
  else
    (0...n).each_slice(1000) { |s| Sidekiq::Client.push_bulk("class" => NoopJob, "args" => s.map { |i| [i] }, "queue" => queue) }
  end
  t1 = now
  # Sidekiq keeps no per-job result and flushes its processed counter every few seconds: done is
  # the queue list empty (at most the worker's concurrency of jobs are still running then).
  wait = lambda do
    deadline = now + 600
    while redis.llen("queue:#{queue}") > 0
      abort "timed out" if now > deadline
      sleep 0.005
    end
  end
  if phase == "e2e"
    wait.call
    puts JSON.generate(enqueue_s: t1 - t0, wall_s: now - t0)
  else
    puts JSON.generate(enqueued: n)
    $stdout.flush
    $stdin.gets
    t2 = now
    wait.call
    puts JSON.generate(enqueue_s: t1 - t0, drain_s: now - t2)
  end
  $stdout.flush
end
