import Foundation
import OrbiterTestSupport
import Testing

/// `--durability`: acknowledged writes against a real replica, a master without one, and a
/// Redis too old for `aof`.
@Suite("Durability of submits and outcomes", .serialized)
struct DurabilityCLITests {
    /// `redis-cli -p port args...`, its output trimmed.
    func cli(_ port: Int, _ args: String) async throws -> String {
        try await OrbiterBinary.shell("redis-cli -p \(port) \(args)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A replica of `master`, returned once the master counts it as connected and in sync.
    func replica(of master: PrivateRedis) async throws -> PrivateRedis {
        let replica = try PrivateRedis(persistent: false, arguments: ["--replicaof", "127.0.0.1", "\(master.port)"])
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let info = try await cli(master.port, "info replication")
            let link = try await cli(replica.port, "info replication")
            if info.contains("connected_slaves:1") && link.contains("master_link_status:up") { return replica }
            guard ContinuousClock.now < deadline else { throw TestFailure("replica on \(replica.port) did not sync: \(info)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("with a replica, --durability replica submits, and the outcome reaches the replica")
    func withAReplicaSubmitsAndTheOutcomeReachesTheReplica() async throws {
        let master = try PrivateRedis(persistent: false)
        let copy = try await replica(of: master)
        let env = ["ORBITER_REDIS_URL": master.url]
        let worker = try OrbiterBinary.start(["start", "worker", "--worker-id", "durable", "--durability", "replica"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker durable started") }
        #expect(worker.stderr.contains("durability replica (wait up to 1000 ms)"), "\(worker.stderr)")
        let done = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "2 + 40", "--durability", "replica", "--wait", "--json"],
                                               environment: env)
        #expect(done.status == 0, "\(done.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [String: Any])?["task_id"] as? String)
        // Acknowledged means the replica has it: the completed status is readable there at once.
        #expect(try await cli(copy.port, "hget '{orbiter:default}:task:\(id)' status") == "completed")
    }

    @Test("with a replica, a parked task is on the replica when it waits, and goes on after approval")
    func aParkedTaskIsOnTheReplica() async throws {
        let master = try PrivateRedis(persistent: false)
        let copy = try await replica(of: master)
        let env = ["ORBITER_REDIS_URL": master.url]
        let worker = try OrbiterBinary.start(["start", "worker", "--worker-id", "parker", "--durability", "replica"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker parker started") }
        let submitted = try await OrbiterBinary.run(["submit", "examples/approval.lua", "Refund 30", "--durability", "replica"], environment: env)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = ContinuousClock.now + .seconds(20)
        while try await cli(copy.port, "hget '{orbiter:default}:task:\(id)' status") != "waiting" {
            guard ContinuousClock.now < deadline else { throw TestFailure("task \(id) never showed as waiting on the replica") }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!worker.stderr.contains("not acknowledged"), "\(worker.stderr)")
        let approved = try await OrbiterBinary.run(["task", "approve", id], environment: env)
        #expect(approved.status == 0, "\(approved.stderr)")
        let result = try await OrbiterBinary.run(["task", "result", id, "--timeout", "15"], environment: env)
        #expect(result.stdout == "Done: refunded 30.\n", "\(result.stderr)")
    }

    @Test("without a replica a submit fails, says the task may exist, and names it")
    func withoutAReplicaASubmitFailsAndSaysTheTaskMayExist() async throws {
        let master = try PrivateRedis(persistent: false)
        let env = ["ORBITER_REDIS_URL": master.url]
        let started = ContinuousClock.now
        let r = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--durability", "replica",
                                             "--durability-timeout", "200ms"], environment: env)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("no replica acknowledged it within 200 ms"), "\(r.stderr)")
        #expect(r.stderr.contains("MAY still exist"), "\(r.stderr)")
        let id = try #require(r.stderr.split(separator: " ").dropFirst(2).first.map(String.init))
        #expect(r.stderr.hasPrefix("orbiter: task \(id) was written"), "\(r.stderr)")
        // And it does: on this master, pending.
        let status = try await OrbiterBinary.run(["task", "status", id], environment: env)
        #expect(status.status == 0 && status.stdout.contains("pending"), "\(status.stdout) \(status.stderr)")
    }

    @Test("a worker retries an unacknowledged outcome until a replica acknowledges it")
    func aWorkerRetriesAnUnacknowledgedOutcome() async throws {
        let master = try PrivateRedis(persistent: false)
        let env = ["ORBITER_REDIS_URL": master.url]
        let worker = try OrbiterBinary.start(["start", "worker", "--worker-id", "retrier"],
                                             environment: env.merging(["ORBITER_DURABILITY": "replica", "ORBITER_DURABILITY_TIMEOUT": "100ms"]) { $1 })
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker retrier started") }
        let submitted = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "2 + 40"], environment: env)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await worker.waitFor { _, err in err.contains("task \(id): outcome 'completed' recorded but not acknowledged") }
        #expect(worker.stderr.contains("no replica acknowledged it within 100 ms"), "\(worker.stderr)")
        let copy = try await replica(of: master)
        try await worker.waitFor { _, err in err.contains("task \(id): outcome 'completed' acknowledged now") }
        #expect(try await cli(copy.port, "hget '{orbiter:default}:task:\(id)' status") == "completed")
        let result = try await OrbiterBinary.run(["task", "result", id], environment: env)
        #expect(result.stdout == "The answer is 42.\n", "\(result.stdout) \(result.stderr)")
    }

    @Test("aof is refused on a Redis older than 7.2, naming its version and what to use")
    func aofIsRefusedOnOlderRedis() async throws {
        let master = try PrivateRedis(persistent: true)
        let version = try await cli(master.port, "info server").split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("redis_version:") }.map { String($0.dropFirst(14)) } ?? ""
        let env = ["ORBITER_REDIS_URL": master.url]
        let submit = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--durability", "aof"], environment: env)
        let worker = try await OrbiterBinary.run(["start", "worker", "--durability", "aof"], environment: env)
        for r in [submit, worker] {
            if version.hasPrefix("7.0") || version.hasPrefix("6.") {
                #expect(r.status == 2, "\(r.stderr)")
                #expect(r.stderr.contains("--durability aof needs Redis 7.2 or newer (WAITAOF)"), "\(r.stderr)")
                #expect(r.stderr.contains("is Redis \(version)") && r.stderr.contains("Use --durability replica"), "\(r.stderr)")
            } else {
                Issue.record("this test expects the machine's Redis 7.0; the server is \(version)")
            }
        }
        #expect(try await cli(master.port, "dbsize") == "0", "a refused submit stores nothing")
    }

    @Test("bad durability flags and variables are refused, naming them")
    func badDurabilityFlagsAreRefused() async throws {
        let env = ["ORBITER_REDIS_URL": try TestRedis.url()]
        let cases: [([String], [String: String], String)] = [
            (["--durability", "fast"], [:], "--durability: 'fast' is not a durability level; use none, replica or aof"),
            (["--durability", "replica", "--durability-timeout", "0"], [:], "--durability-timeout: '0' is not a wait from 1ms to 20s"),
            (["--durability", "replica", "--durability-timeout", "1h"], [:], "--durability-timeout: '1h' is not a wait"),
            (["--durability-timeout", "-5ms"], [:], "--durability-timeout: '-5ms'"),
            ([], ["ORBITER_DURABILITY": "always"], "ORBITER_DURABILITY: 'always' is not a durability level"),
            ([], ["ORBITER_DURABILITY": "replica", "ORBITER_DURABILITY_TIMEOUT": "99999"], "ORBITER_DURABILITY_TIMEOUT: '99999'"),
        ]
        for (flags, extra, message) in cases {
            for command in [["submit", "examples/calculator.lua", "1 + 1"], ["start", "worker"]] {
                let r = try await OrbiterBinary.run(command + flags, environment: env.merging(extra) { $1 })
                #expect(r.status != 0 && r.stderr.contains(message), "\(command) \(flags) \(extra): \(r.stderr)")
            }
        }
    }
}
