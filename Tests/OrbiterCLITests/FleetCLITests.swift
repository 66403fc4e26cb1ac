import Foundation
import OrbiterTestSupport
import Testing

/// What a new user trips over with a fleet of workers, driven as processes: a stop that outlasts
/// its drain time, worker ids and `worker list`, idempotency keys, `task` answers (a long output,
/// a second cancel, an id from another queue, `--json` everywhere), purged dead letters, and what
/// workers log.
@Suite("Fleet CLI", .serialized)
struct FleetCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("fleet") }

    /// Starts `orbiter start worker` on this test's queue and waits until it claims tasks.
    func startWorker(_ id: String, _ extra: [String] = [], environment: [String: String]? = nil) async throws -> OrbiterBinary.Running {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", id] + extra, environment: environment ?? env)
        try await worker.waitFor { _, err in err.contains("worker \(id) started") }
        return worker
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    func submitted(_ outcome: OrbiterBinary.Outcome) -> String {
        outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: A stop that outlasts the drain time

    @Test("a task still running when its worker is stopped is finished by another worker")
    func aTaskStillRunningWhenItsWorkerIsStoppedIsFinishedByAnotherWorker() async throws {
        let agent = try temporaryScript(TestAgents.twoSteps())
        let first = try await startWorker("first-\(queue)", ["--drain-timeout", "0.3"])
        defer { first.signal(SIGKILL) }
        let id = submitted(try await orbiter(["submit", agent, "go", "--detailed", "--queue", queue]))
        // Stopped while the second step's slow tool runs (the first step is checkpointed).
        let deadline = ContinuousClock.now + .seconds(20)
        while !(try await orbiter(["task", "events", id, "--queue", queue])).stdout.contains(#""tool_name":"slow""#) {
            guard ContinuousClock.now < deadline else { Issue.record("the slow tool never started"); return }
            try await Task.sleep(for: .milliseconds(50))
        }
        first.signal(SIGTERM)
        let stopped = try await first.finish(timeout: .seconds(10))
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("putting 1 task(s) still running back on the queue"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("task \(id) put back on the queue"), "\(stopped.stderr)")
        let waiting = try json(try await orbiter(["task", "status", id, "--queue", queue, "--json"]).stdout)
        #expect(waiting["status"] as? String == "pending", "not cancelled")

        let second = try await startWorker("second-\(queue)")
        defer { second.signal(SIGKILL) }
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "20"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "done after 2 tools\n")
        let status = try json(try await orbiter(["task", "status", id, "--queue", queue, "--json"]).stdout)
        #expect(status["status"] as? String == "completed")
        #expect(status["worker_id"] as? String == "second-\(queue)")
        #expect(status["attempts"] as? Int == 2)
        let events = try await orbiter(["task", "events", id, "--queue", queue, "--json"]).stdout.split(separator: "\n").map(String.init)
        let retrying = events.firstIndex { $0.contains(#""status":"retrying""#) && $0.contains("first-\(queue) stopped before the task finished") }
        let resumed = events.firstIndex { $0.contains(#""status":"resumed""#) && $0.contains(#""message":"resumed after step 1""#) }
        #expect(retrying != nil, "\(events.joined(separator: "\n"))")
        #expect(resumed != nil, "\(events.joined(separator: "\n"))")
        if let retrying, let resumed { #expect(retrying < resumed) }
        #expect(events.filter { $0.contains(#""tool_name":"first""#) && $0.contains(#""type":"tool_call""#) }.count == 1,
                "the checkpointed step's tool ran once")
        let terminal = events.filter { line in
            line.contains(#""type":"status""#) && ["completed", "cancelled", "error"].contains { line.contains(#""status":"\#($0)""#) }
        }
        #expect(terminal.count == 1, "\(events.joined(separator: "\n"))")
        #expect(terminal.first == events.last, "the terminal status comes last")
        #expect(terminal.first?.contains(#""status":"completed""#) == true, "\(events.joined(separator: "\n"))")
    }

    // MARK: Worker ids and worker list

    @Test("a duplicate worker ID is refused, and a dead worker keeps its counts")
    func aDuplicateWorkerIdIsRefusedAndADeadWorkerKeepsItsCounts() async throws {
        let id = "solo-\(queue)"
        let live = try await startWorker(id, ["--heartbeat-ttl", "1"])
        defer { live.signal(SIGKILL) }
        let twin = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", id], environment: env)
        let refused = try await twin.finish(timeout: .seconds(10))
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("worker id '\(id)' is in use by a live worker on queue '\(queue)'"), "\(refused.stderr)")
        #expect(refused.stderr.contains("another --worker-id"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("started"), "\(refused.stderr)")

        let done = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--wait", "--queue", queue])
        #expect(done.status == 0, "\(done.stderr)")
        let deadline = ContinuousClock.now + .seconds(10)
        var listed = ""
        while !listed.contains("processed 1") {
            guard ContinuousClock.now < deadline else { Issue.record("the count never reached the list: \(listed)"); return }
            try await Task.sleep(for: .milliseconds(100))
            listed = try await orbiter(["worker", "list", "--queue", queue]).stdout
        }
        #expect(listed.contains("\(id)  running  running 0/4  processed 1  failed 0"), "\(listed)")

        live.signal(SIGKILL)
        _ = try await live.finish(timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(1500)) // past its 1 s heartbeat TTL
        let dead = try await orbiter(["worker", "list", "--queue", queue])
        #expect(dead.stdout.contains("\(id)  dead  running 0/4 when last seen  processed 1  failed 0"), "\(dead.stdout)")
        let listedJSON = try await orbiter(["worker", "list", "--queue", queue, "--json"]).stdout
        let rows = try #require(JSONSerialization.jsonObject(with: Data(listedJSON.utf8)) as? [[String: Any]])
        let row = try #require(rows.first { $0["worker_id"] as? String == id })
        #expect(row["state"] as? String == "dead")
        #expect(row["alive"] as? Bool == false)
        #expect(row["tasks_processed"] as? Int == 1)
        let now = Date().timeIntervalSince1970
        for key in ["last_heartbeat", "started_at"] {
            let seconds = try #require(row[key] as? Double, "\(key): \(row)")
            #expect(abs(seconds - now) < 120, "\(key) is seconds since 1970, like the other: \(seconds)")
        }
        // A killed worker's id is free once its heartbeat has lapsed.
        let again = try await startWorker(id)
        again.signal(SIGTERM)
        _ = try await again.finish(timeout: .seconds(10))
    }

    // MARK: Idempotency keys

    @Test("an idempotency key is refused when empty or used for other input")
    func anIdempotencyKeyIsRefusedEmptyOrForOtherInput() async throws {
        let empty = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--idempotency-key", ""])
        #expect(empty.status == 2)
        #expect(empty.stderr.contains("--idempotency-key is empty"), "\(empty.stderr)")
        let first = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--idempotency-key", "k-1"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--idempotency-key", "k-1"])
        #expect(submitted(again) == submitted(first), "the same input with the same key: the same task")
        let other = try await orbiter(["submit", "examples/calculator.lua", "2 + 2", "--queue", queue, "--idempotency-key", "k-1"])
        #expect(other.status == 2, "\(other.stderr)")
        #expect(other.stdout == "")
        #expect(other.stderr.contains("idempotency key 'k-1' was already used for task \(submitted(first)) with a different agent or input"),
                "\(other.stderr)")
    }

    // MARK: task commands

    @Test("task commands say what happened and where a task is")
    func taskCommandsSayWhatHappenedAndWhereATaskIs() async throws {
        let id = submitted(try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--queue", queue]))
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        #expect(cancel.stdout == "task \(id) cancelled; it will not run\n")
        let twice = try await orbiter(["task", "cancel", id, "--queue", queue])
        #expect(twice.status == 0)
        #expect(twice.stdout == "task \(id) was already cancelled; nothing changed\n")
        let twiceJSON = try json(try await orbiter(["task", "cancel", id, "--queue", queue, "--json"]).stdout)
        #expect(twiceJSON["outcome"] as? String == "already_cancelled")

        // An id asked on the wrong queue: the answer names the queue it is on.
        let elsewhere = "other-" + queue
        let hint = "task \(id) not found on queue '\(elsewhere)'; it is on queue '\(queue)': pass --queue \(queue)"
        for command in [["status"], ["result", "--timeout", "1"], ["events"], ["retry"]] {
            let r = try await orbiter(["task", command[0], id, "--queue", elsewhere] + command.dropFirst())
            #expect(r.status == 1, "\(command): \(r.stderr)")
            #expect(r.stderr.contains(hint), "\(command): \(r.stderr)")
        }
        let cancelElsewhere = try await orbiter(["task", "cancel", id, "--queue", elsewhere])
        #expect(cancelElsewhere.status == 1)
        #expect(cancelElsewhere.stdout.contains(hint), "\(cancelElsewhere.stdout)")
        let unknown = try await orbiter(["task", "status", String(repeating: "0f", count: 16), "--queue", queue])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("not found on queue '\(queue)'") && unknown.stderr.contains("pass --queue NAME"), "\(unknown.stderr)")

        // retry and purge have --json.
        let retried = try await orbiter(["task", "retry", id, "--queue", queue, "--json"])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect(try json(retried.stdout) as NSDictionary == ["task_id": id, "outcome": "requeued"] as NSDictionary)
        let refused = try await orbiter(["task", "retry", id, "--queue", queue, "--json"])
        #expect(refused.status == 1)
        #expect(try json(refused.stdout) as NSDictionary == ["task_id": id, "outcome": "not_retryable", "status": "pending"] as NSDictionary)
        let refusedText = try await orbiter(["task", "retry", id, "--queue", queue])
        #expect(refusedText.stderr.contains("task \(id) is pending; only failed or cancelled tasks can be retried"), "\(refusedText.stderr)")
        let purged = try await orbiter(["task", "purge", "--status", "completed", "--older-than", "1h", "--queue", queue, "--json"])
        #expect(purged.status == 0, "\(purged.stderr)")
        #expect(try json(purged.stdout) as NSDictionary
                == ["queue": queue, "status": "completed", "older_than_s": 3600.0, "purged": 0] as NSDictionary)
    }

    @Test("a long output is cut in task status, and purged failures leave the dead list")
    func aLongOutputIsCutInTaskStatusAndPurgedFailuresLeaveTheDeadList() async throws {
        let worker = try await startWorker("long-\(queue)")
        defer { worker.signal(SIGKILL) }
        let long = try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() return string.rep("x", 5 * 1024 * 1024) end }
            return orbiter.agent { name = "wordy", model = m }
            """)
        let id = submitted(try await orbiter(["submit", long, "go", "--queue", queue]))
        let waited = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "30"])
        #expect(waited.stdout.utf8.count == 5 * 1024 * 1024 + 1, "task result prints all of it")
        let status = try await orbiter(["task", "status", id, "--queue", queue])
        #expect(status.stdout.utf8.count < 6000, "cut in text")
        #expect(status.stdout.contains("output:    " + String(repeating: "x", count: 4096) + "\n… (5.0 MiB in total; "
                                       + "use --json or orbiter task result \(id) for all of it)"),
                "\(String(status.stdout.suffix(300)))")
        let whole = try json(try await orbiter(["task", "status", id, "--queue", queue, "--json"]).stdout)
        #expect(((whole["result"] as? [String: Any])?["output"] as? String)?.utf8.count == 5 * 1024 * 1024, "--json has all of it")

        let broken = try temporaryScript("""
            local orbiter = require "orbiter"
            return orbiter.agent { name = "broken", model = orbiter.model { name = "m", respond = function() error("no answer today") end } }
            """)
        let failed = try await orbiter(["submit", broken, "go", "--wait", "--queue", queue])
        #expect(failed.status == 1)
        let deadBefore = try await orbiter(["task", "dead", "--queue", queue])
        #expect(deadBefore.stdout.contains("no answer today"), "\(deadBefore.stdout)")
        let statsBefore = try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout
        #expect(try json(statsBefore)["dead"] as? Int == 1)
        let purged = try await orbiter(["task", "purge", "--status", "failed", "--older-than", "0", "--queue", queue])
        #expect(purged.stdout == "purged 1 failed task(s)\n")
        let deadAfter = try await orbiter(["task", "dead", "--queue", queue, "--json"])
        #expect(deadAfter.stdout == "[]\n")
        let statsAfter = try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout
        #expect(try json(statsAfter)["dead"] as? Int == 0)
    }

    // MARK: What workers log

    @Test("orbiter.log lines on a worker name their task")
    func orbiterLogLinesOnAWorkerNameTheirTask() async throws {
        let worker = try await startWorker("logs-\(queue)", ["--log-format", "json"])
        defer { worker.signal(SIGKILL) }
        let agent = try temporaryScript("""
            local orbiter = require "orbiter"
            local probe = orbiter.tool { name = "probe", run = function() orbiter.log("probing now") return "ok" end }
            local m = orbiter.model { name = "m", respond = function(req)
              if req.messages[#req.messages].role == "tool" then return "probed" end
              return { tool_calls = { { name = "probe", arguments = {} } } }
            end }
            return orbiter.agent { name = "prober", model = m, tools = { probe } }
            """)
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let done = try await orbiter(["submit", agent, "go", "--wait", "--queue", queue, "--traceparent", "00-\(traceID)-00f067aa0ba902b7-01",
                                      "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let id = try #require(try json(done.stdout)["task_id"] as? String)
        try await worker.waitFor { _, err in err.contains("probing now") }
        let line = try #require(worker.stderr.split(separator: "\n").first { $0.contains("probing now") })
        let fields = try json(String(line))
        #expect(fields["source"] as? String == "lua")
        #expect(fields["task_id"] as? String == id)
        #expect(fields["agent"] as? String == "prober")
        #expect(fields["trace_id"] as? String == traceID)
        #expect(fields["worker_id"] as? String == "logs-\(queue)")
        #expect(fields["level"] as? String == "info")
    }

    @Test("a bad tool file and a lost Redis are logged at warning")
    func aBadToolFileAndALostRedisAreLoggedAtWarning() async throws {
        let redis = try PrivateRedis()
        let tools = try temporaryFolder("orbiter-fleet-tools", files: [
            "broken.lua": "local orbiter = require \"orbiter\"\norbiter.tool { name = \"broken\", run = function( end }\n",
        ])
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "quiet-\(queue)", "--log-level", "warning",
                                              "--tools", tools.path], environment: ["ORBITER_REDIS_URL": redis.url])
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("broken.lua:2:") }
        #expect(worker.stderr.contains(" warning ") && worker.stderr.contains("(not loaded)"), "\(worker.stderr)")
        #expect(!worker.stderr.contains(" info "), "info lines stay hidden: \(worker.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        redis.stop()
        try await worker.waitFor { _, err in err.contains("cannot read the queue") }
        let line = try #require(worker.stderr.split(separator: "\n").first { $0.contains("cannot read the queue") })
        #expect(line.contains(" warning "), "\(String(line))")
    }
}
