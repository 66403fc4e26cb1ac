import Foundation
import OrbiterTestSupport
import Testing

/// A person in the loop from the command line: `orbiter run` asks on the terminal (a
/// pseudo-terminal here; never stdin), `--approve-all`, no terminal, and a worker's parked tasks
/// answered with `orbiter task approve|reject|reply`.
@Suite("Human input CLI", .serialized)
struct HumanInputCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("hitl") }

    @Test("run on a terminal: the approval is asked there, y approves, the reply is on stdout")
    func approvedOnTheTerminal() async throws {
        let tty = try PseudoTerminal()
        let run = try OrbiterBinary.start(["run", "examples/approval.lua", "Refund 30"], on: tty)
        try await tty.waitFor(#"approve refund {"amount": 30}? [y/N]"#)
        tty.type("y")
        let end = try await run.finish(timeout: .seconds(20))
        #expect(end.status == 0, "\(end.stderr)")
        #expect(end.stdout == "Done: refunded 30.\n")
        #expect(end.stderr.contains("✓ [support] refund"), "\(end.stderr)")
    }

    @Test("run on a terminal: a reason typed instead of y rejects the call, and the model sees it")
    func rejectedOnTheTerminal() async throws {
        let tty = try PseudoTerminal()
        let run = try OrbiterBinary.start(["run", "examples/approval.lua", "Refund 30"], on: tty)
        try await tty.waitFor("[y/N]")
        tty.type("too much")
        let end = try await run.finish(timeout: .seconds(20))
        #expect(end.status == 0, "\(end.stderr)")
        #expect(end.stdout == "No refund: rejected: too much.\n")
    }

    @Test("the input comes from stdin and the answers from the terminal; --json shows each wait")
    func stdinForInputTerminalForAnswers() async throws {
        let tty = try PseudoTerminal()
        let run = try OrbiterBinary.start(["run", "--json", "examples/approval.lua"], on: tty, stdin: "I want a refund\n")
        try await tty.waitFor("ask_amount asks: How much should be refunded?")
        tty.type("12")
        try await tty.waitFor(#"approve refund {"amount": 12}? [y/N]"#)
        tty.type("y")
        let end = try await run.finish(timeout: .seconds(20))
        #expect(end.status == 0, "\(end.stderr)")
        let lines = end.stdout.split(separator: "\n").map(String.init)
        let waits = lines.filter { $0.contains(#""status":"waiting_for_input""#) }
        #expect(waits.count == 2, "\(end.stdout)")
        #expect(waits.first?.contains(#""question":"How much should be refunded?""#) == true)
        #expect(waits.last?.contains(#""tool_name":"refund""#) == true && waits.last?.contains(#""arguments":{"amount":12}"#) == true)
        #expect(lines.last?.contains(#""status":"completed""#) == true)
        #expect(end.stdout.contains("Done: refunded 12."))
    }

    @Test("without a terminal the run fails clearly, unless --approve-all; a question still needs a terminal")
    func withoutATerminal() async throws {
        let refused = try await OrbiterBinary.runWithoutTerminal(["run", "examples/approval.lua", "Refund 30"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("HumanInputUnavailable: tool 'refund' needs a person's approval, and there is no terminal to ask on"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("--approve-all"), "\(refused.stderr)")
        let approved = try await OrbiterBinary.runWithoutTerminal(["run", "--approve-all", "examples/approval.lua"], stdin: "Refund 30\n")
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(approved.stdout == "Done: refunded 30.\n")
        let asked = try await OrbiterBinary.runWithoutTerminal(["run", "--approve-all", "examples/approval.lua", "I want a refund"])
        #expect(asked.status == 1)
        #expect(asked.stderr.contains(#"tool 'ask_amount' asks "How much should be refunded?", and there is no terminal to ask on"#),
                "\(asked.stderr)")
    }

    @Test("on a worker: the task parks; task list, status, approve, reject, reply; refused replies exit 1")
    func parkedOnAWorker() async throws {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "hitl-\(queue)", "--concurrency", "1"],
                                             environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker hitl-\(self.queue) started") }
        let first = try await orbiter(["submit", "examples/approval.lua", "Refund 30", "--queue", queue])
        let second = try await orbiter(["submit", "examples/approval.lua", "I want a refund", "--queue", queue])
        let (a, b) = (first.stdout.trimmingCharacters(in: .whitespacesAndNewlines), second.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        try await waitUntilWaiting(a, for: "approval of refund")
        try await waitUntilWaiting(b, for: "answer to")
        let listed = try await orbiter(["task", "list", "--status", "waiting", "--queue", queue]).stdout
        #expect(listed.contains(a) && listed.contains(b), "\(listed)")
        #expect(listed.contains(#"waits for approval of refund {"amount": 30}"#), "\(listed)")
        let status = try await orbiter(["task", "status", b, "--queue", queue])
        #expect(status.stdout.contains("status:    waiting"), "\(status.stdout)")
        #expect(status.stdout.contains(#"waits for: answer to "How much should be refunded?""#), "\(status.stdout)")
        #expect(status.stdout.contains("orbiter task reply \(b) TEXT"), "\(status.stdout)")

        let wrong = try await orbiter(["task", "approve", b, "--queue", queue])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("waits for the answer to a question, not an approval"), "\(wrong.stderr)")
        let replied = try await orbiter(["task", "reply", b, "7", "--queue", queue])
        #expect(replied.status == 0, "\(replied.stderr)")
        let approved = try await orbiter(["task", "approve", a, "--queue", queue, "--json"])
        #expect(approved.stdout == #"{"outcome":"resumed","task_id":"\#(a)"}"# + "\n")
        let again = try await orbiter(["task", "approve", a, "--queue", queue])
        #expect(again.status == 1)
        #expect(again.stderr.contains("task \(a) is not waiting for input (it is "), "\(again.stderr)")
        let result = try await orbiter(["task", "result", a, "--queue", queue, "--timeout", "15"])
        #expect(result.stdout == "Done: refunded 30.\n", "\(result.stderr)")
        // The answer's run goes on to the approval of the amount, and parks again.
        try await waitUntilWaiting(b, for: #"approval of refund {"amount": 7}"#)
        let rejected = try await orbiter(["task", "reject", b, "--reason", "not today", "--queue", queue])
        #expect(rejected.status == 0, "\(rejected.stderr)")
        let end = try await orbiter(["task", "result", b, "--queue", queue, "--timeout", "15"])
        #expect(end.stdout == "No refund: rejected: not today.\n", "\(end.stderr)")
        let done = try await orbiter(["task", "reply", b, "x", "--queue", queue])
        #expect(done.status == 1)
        #expect(done.stderr.contains("is not waiting for input (it is completed); nothing changed"), "\(done.stderr)")
        let missing = try await orbiter(["task", "approve", String(repeating: "0", count: 32), "--queue", queue])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not found"), "\(missing.stderr)")
    }

    /// Polls `task list --status waiting` until task `id` is listed waiting for `what`.
    func waitUntilWaiting(_ id: String, for what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let listed = try await orbiter(["task", "list", "--status", "waiting", "--queue", queue]).stdout
            if listed.split(separator: "\n").contains(where: { $0.hasPrefix(id) && $0.contains(what) }) { return }
            guard ContinuousClock.now < deadline else { throw TestFailure("task \(id) never waited for \(what): \(listed)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("submit --wait says where the task waits; --wait-timeout fails it with InputTimeout")
    func waitTimeoutOnAWorker() async throws {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "hitl2-\(queue)", "--concurrency", "1"],
                                             environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker hitl2-\(self.queue) started") }
        let waited = try await orbiter(["submit", "examples/approval.lua", "Refund 3", "--queue", queue, "--wait", "--wait-timeout", "1.5"])
        #expect(waited.status == 1)
        #expect(waited.stderr.contains(#"waits for input: approve refund {"amount": 3}? — orbiter task approve "#), "\(waited.stderr)")
        let timedOut = try await orbiter(["submit", "examples/approval.lua", "Refund 4", "--queue", queue, "--wait-timeout", "1"])
        let id = timedOut.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "20"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no reply from a person within 1 s"), "\(result.stderr)")
        let events = try await orbiter(["task", "events", id, "--queue", queue, "--json"])
        #expect(events.stdout.contains(#""error_type":"InputTimeout""#), "\(events.stdout)")
    }
}
