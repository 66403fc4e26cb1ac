import Foundation
import OrbiterTestSupport
import Testing

/// `orbiter submit --batch` and `orbiter schedule`, driven as processes.
@Suite("Schedules and batches CLI", .serialized)
struct ScheduleBatchCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("sched") }

    /// Answers "ok <input>", or fails when the input is "fail".
    func agent() throws -> String {
        try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req)
              local input = req.messages[#req.messages].content
              if input == "fail" then error("asked to fail") end
              return "ok " .. input
            end }
            return orbiter.agent { name = "batcher", model = m }
            """)
    }

    func startWorker(_ id: String) async throws -> OrbiterBinary.Running {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", id, "--concurrency", "16"], environment: env)
        try await worker.waitFor { _, err in err.contains("worker \(id) started") }
        return worker
    }

    @Test("bad batch lines are reported as FILE:LINE and nothing is submitted")
    func badLines() async throws {
        let script = try agent()
        let file = try temporaryScript("""
            "fine"
            {"input": "also fine", "metadata": {"n": 1}, "idempotency_key": "k1"}

            {"input": 42}
            not json
            [1, 2]
            {"input": "x", "colour": "red"}
            {"metadata": {}}
            {"input": "y", "metadata": {"deep": {"a": 1}}}
            {"input": "z", "idempotency_key": ""}
            {"input": "other", "idempotency_key": "k1"}
            """, name: "inputs.jsonl")
        let outcome = try await orbiter(["submit", script, "--batch", file, "--queue", queue])
        #expect(outcome.status == 2)
        #expect(outcome.stdout.isEmpty)
        for expected in ["inputs.jsonl:4: field 'input' must be a string, got a number",
                         "inputs.jsonl:5: not JSON",
                         "inputs.jsonl:6: expected a JSON string or an object {\"input\": \"...\"}, got an array",
                         "inputs.jsonl:7: unknown field 'colour'",
                         "inputs.jsonl:8: field 'input' is missing",
                         "inputs.jsonl:9: metadata.deep must be a string, number or boolean, got an object",
                         "inputs.jsonl:10: field 'idempotency_key' must be a non-empty string",
                         "inputs.jsonl:11: idempotency_key 'k1' is also on line 2 with another input",
                         "nothing was submitted"] {
            #expect(outcome.stderr.contains(expected), "\(expected)\n\(outcome.stderr)")
        }
        #expect(!outcome.stderr.contains("inputs.jsonl:1:") && !outcome.stderr.contains("inputs.jsonl:3:"))
        let listed = try await orbiter(["task", "list", "--queue", queue, "--json"])
        #expect(!listed.stdout.contains("task_id"), "nothing stored: \(listed.stdout)")

        // Not UTF-8, an empty file, a missing file, and flags that do not go with --batch.
        let latin = try temporaryScript("", name: "latin.jsonl")
        try Data([0x22, 0x63, 0x61, 0x66, 0xE9, 0x22, 0x0A]).write(to: URL(fileURLWithPath: latin))
        let notUTF8 = try await orbiter(["submit", script, "--batch", latin, "--queue", queue])
        #expect(notUTF8.status == 2)
        #expect(notUTF8.stderr.contains("latin.jsonl:1: not UTF-8 text (byte 0xE9 at column 5)"), "\(notUTF8.stderr)")
        let empty = try await orbiter(["submit", script, "--batch", "-", "--queue", queue], stdin: "\n\n")
        #expect(empty.status == 2)
        #expect(empty.stderr.contains("holds no inputs"), "\(empty.stderr)")
        let missing = try await orbiter(["submit", script, "--batch", "/nonexistent/x.jsonl", "--queue", queue])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--batch /nonexistent/x.jsonl: no such file"), "\(missing.stderr)")
        let both = try await orbiter(["submit", script, "input", "--batch", file, "--queue", queue])
        #expect(both.status == 2)
        #expect(both.stderr.contains("leave out the INPUT argument"), "\(both.stderr)")
        let streamed = try await orbiter(["submit", script, "--batch", file, "--stream", "--queue", queue])
        #expect(streamed.status == 2)
    }

    @Test("a batch from stdin prints one id per line; --wait follows it and exits 1 when a task failed")
    func batchWait() async throws {
        let script = try agent()
        let worker = try await startWorker("batch-\(queue)")
        defer { worker.signal(SIGKILL) }
        let lines = (0..<300).map { i in i == 150 ? #"{"input": "fail", "metadata": {"n": 150}}"# : #"{"input": "t\#(i)", "metadata": {"n": \#(i)}}"# }
        let outcome = try await orbiter(["submit", script, "--batch", "-", "--wait", "--queue", queue, "--metadata", "run=r1"],
                                        stdin: lines.joined(separator: "\n") + "\n")
        #expect(outcome.status == 1, "\(outcome.stderr)")
        let ids = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == 300)
        #expect(ids.allSatisfy { $0.count == 32 })
        // No terminal: plain progress lines, ending with the whole count.
        #expect(outcome.stderr.contains("orbiter: 300/300 done · 1 failed · 0 running"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("task \(ids[150]) failed:"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("asked to fail"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("299 of 300 tasks completed; 1 failed"), "\(outcome.stderr)")
        let status = try await orbiter(["task", "status", ids[7], "--queue", queue, "--json"])
        #expect(status.stdout.contains(#""n":"7""#) && status.stdout.contains(#""run":"r1""#), "\(status.stdout)")
        let result = try await orbiter(["task", "result", ids[7], "--queue", queue])
        #expect(result.stdout == "ok t7\n")

        // All good: exit 0, and --json gives one object per task and a summary.
        let good = try await orbiter(["submit", script, "--batch", "-", "--wait", "--json", "--queue", queue], stdin: "\"a\"\n\"b\"\n")
        #expect(good.status == 0, "\(good.stderr)")
        let objects = good.stdout.split(separator: "\n").map(String.init)
        #expect(objects.count == 3)
        #expect(objects[0].contains(#""line":1"#) && objects[1].contains(#""line":2"#))
        #expect(objects[2].contains(#""completed":2"#), "\(objects)")
    }

    @Test("on a terminal, --wait draws a progress bar in place")
    func progressBarOnATerminal() async throws {
        let script = try agent()
        let worker = try await startWorker("bar-\(queue)")
        defer { worker.signal(SIGKILL) }
        let file = try temporaryScript((0..<200).map { "\"b\($0)\"" }.joined(separator: "\n"), name: "bar.jsonl")
        let tty = try PseudoTerminal()
        let outcome = try await OrbiterBinary.shell("\"$ORBITER\" submit '\(script)' --batch '\(file)' --wait --queue \(queue) 2>'\(tty.path)'",
                                                    environment: env)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.split(separator: "\n").count == 200)
        try await tty.waitFor("200/200 done · 0 failed · 0 running")
        #expect(tty.screen.contains("[████████████████████████] 200/200 done"), "\(tty.screen)")
        #expect(tty.screen.contains("\r\u{1B}[2K"), "redrawn in place")
        #expect(!tty.screen.contains("orbiter: 200/200"), "no plain lines on a terminal")
    }

    @Test("schedule add, list, run and remove")
    func scheduleCommands() async throws {
        let script = try agent()
        let bad = try await orbiter(["schedule", "add", "nightly", script, "--cron", "0 25 * * *", "--queue", queue])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--cron: cron \"0 25 * * *\": hour \"25\": 25 is out of range 0-23"), "\(bad.stderr)")
        let neither = try await orbiter(["schedule", "add", "nightly", script, "--queue", queue])
        #expect(neither.status == 2)
        #expect(neither.stderr.contains("exactly one of --cron"), "\(neither.stderr)")
        let badEvery = try await orbiter(["schedule", "add", "nightly", script, "--every", "0s", "--queue", queue])
        #expect(badEvery.status == 2)
        #expect(badEvery.stderr.contains("--every '0s'"), "\(badEvery.stderr)")

        let added = try await orbiter(["schedule", "add", "nightly", script, "hello", "--cron", "0 3 * * *", "--queue", queue,
                                       "--metadata", "team=ops", "--timeout", "60"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("schedule 'nightly' added on queue '\(queue)' (cron 0 3 * * *); next tick"), "\(added.stdout)")
        let again = try await orbiter(["schedule", "add", "nightly", script, "--every", "5m", "--queue", queue])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already exists") && again.stderr.contains("--replace"), "\(again.stderr)")

        let list = try await orbiter(["schedule", "list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains(#""name":"nightly""#) && list.stdout.contains(#""queue":"\#(queue)""#), "listed across queues: \(list.stdout)")
        #expect(list.stdout.contains(#""cron":"0 3 * * *""#) && list.stdout.contains(#""misfire":"once""#))
        let text = try await orbiter(["schedule", "list", "--queue", queue])
        #expect(text.stdout.contains("nightly  queue=\(queue)  cron 0 3 * * *  next="), "\(text.stdout)")

        let worker = try await startWorker("sched-\(queue)")
        defer { worker.signal(SIGKILL) }
        let run = try await orbiter(["schedule", "run", "nightly", "--queue", queue])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "20"])
        #expect(result.stdout == "ok hello\n", "\(result.stderr)")
        let status = try await orbiter(["task", "status", id, "--queue", queue, "--json"])
        #expect(status.stdout.contains(#""schedule":"nightly""#) && status.stdout.contains(#""schedule_tick":"manual""#), "\(status.stdout)")

        let removed = try await orbiter(["schedule", "remove", "nightly", "--queue", queue])
        #expect(removed.status == 0)
        let gone = try await orbiter(["schedule", "remove", "nightly", "--queue", queue])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("no schedule 'nightly'"), "\(gone.stderr)")
        let runGone = try await orbiter(["schedule", "run", "nightly", "--queue", queue])
        #expect(runGone.status == 1)
    }

    @Test("a batch's and a schedule's tasks carry --priority; a bad one is refused before anything is stored")
    func placementReachesBatchesAndSchedules() async throws {
        let script = try agent()
        let inputs = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(queue).jsonl")
        try "\"a\"\n\"b\"\n".write(to: inputs, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: inputs) }
        let batch = try await orbiter(["submit", script, "--batch", inputs.path, "--priority", "9", "--tenant", "acme", "--queue", queue])
        #expect(batch.status == 0, "\(batch.stderr)")
        let ids = batch.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == 2)
        for id in ids {
            let status = try await orbiter(["task", "status", id, "--queue", queue, "--json"])
            #expect(status.stdout.contains(#""priority":9"#), "\(status.stdout)")
        }
        let refused = try await orbiter(["schedule", "add", "urgent", script, "--every", "1h", "--priority", "10", "--queue", queue])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--priority must be 0 to 9"), "\(refused.stderr)")
        let added = try await orbiter(["schedule", "add", "urgent", script, "x", "--every", "1h", "--priority", "8", "--queue", queue])
        #expect(added.status == 0, "\(added.stderr)")
        let run = try await orbiter(["schedule", "run", "urgent", "--queue", queue])
        #expect(run.status == 0, "\(run.stderr)")
        let status = try await orbiter(["task", "status", run.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "--queue", queue, "--json"])
        #expect(status.stdout.contains(#""priority":8"#), "\(status.stdout)")
        _ = try await orbiter(["schedule", "remove", "urgent", "--queue", queue])
    }
}
