import Foundation
import OrbiterTestSupport
import Testing

/// The README's least-privilege ACL users, exactly as written there: a worker and a client with
/// only those rights run the whole task life through the real CLI, and a user without rights gets
/// a readable refusal.
@Suite("ACL users of a worker and a client", .serialized)
struct ACLUsersCLITests {
    /// The rights of README "ACL users", read from the README itself so the two cannot drift:
    /// what follows `resetkeys resetchannels` on its `ACL SETUSER orbiter-client|worker` line.
    static func readmeRights(_ user: String) throws -> (keysAndChannels: String, commands: String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let line = readme.split(separator: "\n").first(where: { $0.hasPrefix("ACL SETUSER \(user) ") }),
              let range = line.range(of: "resetkeys resetchannels ") else {
            throw TestFailure("README has no 'ACL SETUSER \(user) ... resetkeys resetchannels ...' line")
        }
        let rights = line[range.upperBound...].split(separator: " ").map(String.init)
        return (rights.filter { $0.hasPrefix("~") || $0.hasPrefix("&") }.joined(separator: " "),
                rights.filter { $0.hasPrefix("+") || $0.hasPrefix("-") }.joined(separator: " "))
    }

    let admin: String
    let port: String
    let queue = "acl-" + UUID().uuidString.prefix(8).lowercased()
    let suffix = UUID().uuidString.prefix(6).lowercased()

    init() throws {
        admin = try TestRedis.url()
        port = String(admin.split(separator: ":").last!.prefix { $0.isNumber })
    }

    func redisCLI(_ args: String) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.shell("redis-cli -u '\(admin)' \(args)")
    }

    func url(_ user: String) -> String { "redis://\(user):pw-\(suffix)@127.0.0.1:\(port)" }

    @Test("a worker and a client with only the README's rights run, wait, read, stream, list, approve and cancel")
    func aWorkerAndAClientWithOnlyTheREADMERightsWork() async throws {
        let (worker, client) = try await makeREADMEUsers()
        defer { Task { [self] in _ = try? await redisCLI("acl deluser \(worker) \(client)") } }
        let running = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "acl-\(suffix)"],
                                              environment: ["ORBITER_REDIS_URL": url(worker)])
        defer { running.signal(SIGKILL) }
        try await running.waitFor { _, err in err.contains("worker acl-\(suffix) started") }
        #expect(running.stderr.contains("may not run CONFIG GET"), "\(running.stderr)")
        let env = ["ORBITER_REDIS_URL": url(client)]
        func orbiter(_ args: [String]) async throws -> OrbiterBinary.Outcome {
            try await OrbiterBinary.run(args + ["--queue", queue], environment: env)
        }
        let waited = try await orbiter(["submit", "examples/calculator.lua", "2 + 40", "--wait"])
        #expect(waited.status == 0 && waited.stdout == "The answer is 42.\n", "\(waited.stdout) \(waited.stderr)")
        let submitted = try await orbiter(["submit", "examples/calculator.lua", "1 + 2"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await orbiter(["task", "result", id])
        #expect(result.status == 0 && result.stdout.contains("3"), "\(result.stdout) \(result.stderr)")
        let status = try await orbiter(["task", "status", id])
        #expect(status.status == 0 && status.stdout.contains("completed"), "\(status.stdout) \(status.stderr)")
        let events = try await orbiter(["task", "events", id])
        #expect(events.status == 0 && !events.stdout.isEmpty, "\(events.stderr)")
        let streamed = try await orbiter(["submit", "examples/calculator.lua", "5 + 5", "--stream"])
        #expect(streamed.status == 0 && streamed.stdout.contains("10"), "\(streamed.stdout) \(streamed.stderr)")
        let stats = try await orbiter(["queue", "stats"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let list = try await orbiter(["task", "list"])
        #expect(list.status == 0 && list.stdout.contains(id), "\(list.stdout) \(list.stderr)")
        // Filters by agent and age (the age bound counts newer tasks with ZCOUNT).
        let filtered = try await orbiter(["task", "list", "--agent", "calculator", "--older-than", "0s", "--newer-than", "1h", "--status", "completed"])
        #expect(filtered.status == 0 && filtered.stdout.contains(id) && filtered.stdout.contains("calculator"), "\(filtered.stdout) \(filtered.stderr)")
        let later = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--delay", "1h"])
        let laterID = later.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cancelled = try await orbiter(["task", "cancel", laterID])
        #expect(cancelled.status == 0, "\(cancelled.stdout) \(cancelled.stderr)")
        #expect(try await orbiter(["task", "status", laterID]).stdout.contains("cancelled"))
        // A person in the loop: the task parks, the client approves, the run goes on.
        let parked = try await orbiter(["submit", "examples/approval.lua", "Refund 30"])
        let parkedID = parked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deadline = ContinuousClock.now + .seconds(20)
        while !(try await orbiter(["task", "status", parkedID]).stdout.contains("status:    waiting")) {
            guard ContinuousClock.now < deadline else { throw TestFailure("task \(parkedID) never parked") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let approved = try await orbiter(["task", "approve", parkedID])
        #expect(approved.status == 0, "\(approved.stderr)")
        let refunded = try await orbiter(["task", "result", parkedID, "--timeout", "15"])
        #expect(refunded.stdout == "Done: refunded 30.\n", "\(refunded.stderr)")
        #expect(!running.stderr.contains("NOPERM"), "\(running.stderr)")
    }

    /// Creates the README's worker and client users (with this suite's password); returns their names.
    func makeREADMEUsers() async throws -> (worker: String, client: String) {
        let worker = "orbiter-worker-\(suffix)", client = "orbiter-client-\(suffix)"
        for (user, readmeUser) in [(worker, "orbiter-worker"), (client, "orbiter-client")] {
            let rights = try Self.readmeRights(readmeUser)
            let quoted = (rights.keysAndChannels + " " + rights.commands).split(separator: " ").map { "'\($0)'" }.joined(separator: " ")
            let made = try await redisCLI("acl setuser \(user) on '>pw-\(suffix)' resetkeys resetchannels \(quoted)")
            #expect(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "OK", "\(made.stdout) \(made.stderr)")
        }
        return (worker, client)
    }

    @Test("with only the README's rights, a task longer than its lease keeps it (renewals work) and the client counts it running")
    func leaseRenewalsAndRunningCountsWorkWithTheREADMERights() async throws {
        let (worker, client) = try await makeREADMEUsers()
        defer { Task { [self] in _ = try? await redisCLI("acl deluser \(worker) \(client)") } }
        let running = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "acl-lease-\(suffix)",
                                               "--lease", "2", "--heartbeat-ttl", "3"],
                                              environment: ["ORBITER_REDIS_URL": url(worker)])
        defer { running.signal(SIGKILL) }
        try await running.waitFor { _, err in err.contains("worker acl-lease-\(suffix) started") }
        let script = try temporaryScript("""
            local orbiter = require "orbiter"
            local slow = orbiter.model { name = "slow", respond = function(request)
              orbiter.sleep(5)
              return "slept"
            end }
            return orbiter.agent { name = "slow", model = slow }
            """)
        let env = ["ORBITER_REDIS_URL": url(client)]
        let submitted = try await OrbiterBinary.run(["submit", script, "go", "--queue", queue], environment: env)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let deadline = ContinuousClock.now + .seconds(10)
        var stats = ""
        while !stats.contains("\"running\":1") {
            guard ContinuousClock.now < deadline else { throw TestFailure("queue stats never counted the task running: \(stats)") }
            try await Task.sleep(for: .milliseconds(100))
            stats = try await OrbiterBinary.run(["queue", "stats", "--json", "--queue", queue], environment: env).stdout
        }
        let result = try await OrbiterBinary.run(["task", "result", id, "--queue", queue, "--timeout", "20"], environment: env)
        #expect(result.stdout == "slept\n", "\(result.stderr)")
        let status = try await OrbiterBinary.run(["task", "status", id, "--queue", queue, "--json"], environment: env)
        #expect(status.stdout.contains("\"attempts\":1"), "renewed, never taken over: \(status.stdout)")
        #expect(!running.stderr.contains("NOPERM"), "\(running.stderr)")
    }

    @Test("a user without the rights gets an error naming the user and the missing right")
    func aUserWithoutRightsGetsAReadableError() async throws {
        let reader = "orbiter-reader-\(suffix)"
        defer { Task { [self] in _ = try? await redisCLI("acl deluser \(reader)") } }
        _ = try await redisCLI("acl setuser \(reader) on '>pw-\(suffix)' resetkeys '~{orbiter:*' -@all +ping +hget")
        let r = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--redis-url", url(reader)])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("orbiter: Redis user '\(reader)' may not run the '"), "\(r.stderr)")
        #expect(r.stderr.contains("(NOPERM)") && r.stderr.contains("\"ACL users\" in the README"), "\(r.stderr)")
        #expect(!r.stderr.contains("pw-\(suffix)"), "no password in the message")
        // Allowed to call the script but not what it calls: Redis 7.0 words that differently.
        _ = try await redisCLI("acl setuser \(reader) +evalsha '+script|load' +sadd")
        let inScript = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--redis-url", url(reader)])
        #expect(inScript.status == 2, "\(inScript.stderr)")
        #expect(inScript.stderr.hasPrefix("orbiter: Redis user '\(reader)' may not run a command that a queue script (EVALSHA) calls"),
                "\(inScript.stderr)")
        let w = try await OrbiterBinary.run(["start", "worker", "--queue", queue], environment: ["ORBITER_REDIS_URL": url(reader)])
        #expect(w.status == 2 && w.stderr.contains("Redis user '\(reader)' may not"), "\(w.stderr)")
    }
}
