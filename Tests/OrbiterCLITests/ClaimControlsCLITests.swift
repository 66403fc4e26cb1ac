import Foundation
import OrbiterTestSupport
import Testing

/// `submit --priority/--delay/--at` and `queue set-concurrency` as a user types them: what is
/// refused (exit 2, naming the flag, nothing stored) and what a scheduled task looks like in
/// `task status`, `task list`, `queue stats` and `task cancel`.
@Suite("Claim controls CLI", .serialized)
struct ClaimControlsCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("claim") }

    func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    @Test("bad --priority, --delay and --at values are refused naming the flag, and nothing is stored")
    func badPlacementFlagsAreRefused() async throws {
        let agent = try temporaryScript(TestAgents.probe("return 'x'"))
        let cases: [([String], String)] = [
            (["--priority", "high"], "--priority"), (["--priority", "10"], "--priority"), (["--priority", "-1"], "--priority"),
            (["--delay", "-5s"], "--delay"), (["--delay", "soon"], "--delay"), (["--delay", "400d"], "--delay"),
            (["--delay", "inf"], "--delay"), (["--at", "tomorrow"], "--at"), (["--at", "2099-01-01T00:00:00Z"], "--at"),
            (["--delay", "1s", "--at", "2026-12-24T08:00:00Z"], "not both"),
        ]
        for (flags, named) in cases {
            let outcome = try await orbiter(["submit", agent, "x", "--queue", queue] + flags)
            #expect(outcome.status == 2, "\(flags): \(outcome.stderr)")
            #expect(outcome.stderr.contains(named), "\(flags): \(outcome.stderr)")
        }
        let listed = try await orbiter(["task", "list", "--queue", queue, "--json"])
        #expect(listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test("a delayed task is scheduled in status, list and stats, and cancel removes it")
    func aDelayedTaskIsScheduledAndCancelRemovesIt() async throws {
        let agent = try temporaryScript(TestAgents.probe("return 'x'"))
        let submitted = try await orbiter(["submit", agent, "x", "--queue", queue, "--delay", "30s", "--priority", "8"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try await orbiter(["task", "status", id, "--queue", queue])
        #expect(status.stdout.contains("status:    scheduled"), "\(status.stdout)")
        #expect(status.stdout.contains("priority:  8"), "\(status.stdout)")
        #expect(status.stdout.contains("(scheduled until then)"), "\(status.stdout)")
        let state = try json(try await orbiter(["task", "status", id, "--queue", queue, "--json"]).stdout)
        let runAt = try #require(state["run_at"] as? Double)
        #expect(abs(runAt - Date().timeIntervalSince1970 - 30) < 5)
        let list = try await orbiter(["task", "list", "--queue", queue, "--status", "scheduled"])
        #expect(list.stdout.contains(id) && list.stdout.contains("runs at"), "\(list.stdout)")
        let stats = try json(try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout)
        #expect(stats["scheduled"] as? Int == 1)
        #expect(stats["pending"] as? Int == 0)
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        let after = try json(try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout)
        #expect(after["scheduled"] as? Int == 0)
        let cancelled = try json(try await orbiter(["task", "status", id, "--queue", queue, "--json"]).stdout)
        #expect(cancelled["status"] as? String == "cancelled")
    }

    @Test("queue set-concurrency sets, shows and removes the cap, and refuses what is not a positive integer")
    func queueSetConcurrencySetsShowsAndRemovesTheCap() async throws {
        for bad in ["0", "-2", "many", "1.5"] {
            // A leading '-' reads as an option unless '--' comes first, as for every argument.
            let outcome = try await orbiter(["queue", "set-concurrency", queue] + (bad.hasPrefix("-") ? ["--", bad] : [bad]))
            #expect(outcome.status == 2, "\(bad): \(outcome.stderr)")
            #expect(outcome.stderr.contains("positive integer or none"), "\(bad): \(outcome.stderr)")
        }
        let set = try await orbiter(["queue", "set-concurrency", queue, "3"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("at most 3 task(s) run at once"), "\(set.stdout)")
        let stats = try await orbiter(["queue", "stats", "--queue", queue])
        #expect(stats.stdout.contains("cap       3 running at most"), "\(stats.stdout)")
        #expect(try json(try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout)["concurrency_cap"] as? Int == 3)
        let removed = try await orbiter(["queue", "set-concurrency", queue, "none", "--json"])
        #expect(try json(removed.stdout)["concurrency_cap"] is NSNull)
        #expect(try json(try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout)["concurrency_cap"] is NSNull)
        let twice = try await orbiter(["queue", "set-concurrency", queue, "2", "--queue", "other"])
        #expect(twice.status == 2 && twice.stderr.contains("given twice"), "\(twice.stderr)")
    }
}
