import Foundation
import OrbiterTestSupport
import Testing

/// `--prices`, `--max-tokens-total`, `--max-cost`, `--tenant` and `orbiter budget`, driven as
/// processes: what a user sees, and what a bad flag or file does.
@Suite("Budget CLI", .serialized)
struct BudgetCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("budget") }

    static let spender = TestAgents.spender()

    func files() throws -> (script: String, prices: String, folder: URL) {
        let folder = try temporaryFolder("budget-cli", files: [
            "spender.lua": Self.spender,
            "prices.json": #"{"_comment": "test prices", "lua:m": {"input": 1, "output": 2}}"#,
            "bad.json": #"{"lua:m": {"input": "one", "output": 2}}"#,
            "other.json": #"{"openai:gpt-4o": {"input": 1, "output": 2}}"#,
        ])
        return (folder.appendingPathComponent("spender.lua").path, folder.appendingPathComponent("prices.json").path, folder)
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test("orbiter run: --prices prints the cost; a budget stops the run; a bad table names file and field")
    func runWithPricesAndBudgets() async throws {
        let (script, prices, folder) = try files()
        let ok = try await orbiter(["run", "--prices", prices, script, "once"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == "done\n")
        #expect(ok.stderr.contains("cost: 0.00028 USD (200 tokens)"), "\(ok.stderr)")

        let stopped = try await orbiter(["run", "--max-tokens-total", "250", script, "go"])
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("task budget of 250 tokens exceeded: 300 tokens spent"), "\(stopped.stderr)")

        let costly = try await orbiter(["run", "--json", "--prices", prices, "--max-cost", "0.0005", script, "go"])
        #expect(costly.status == 1)
        #expect(costly.stdout.contains(#""error_type":"BudgetExceeded""#), "\(costly.stdout)")

        let unknown = try await orbiter(["run", "--prices", folder.appendingPathComponent("other.json").path, script, "once"])
        #expect(unknown.status == 0)
        #expect(unknown.stderr.contains("warning: cost unknown:") && unknown.stderr.contains("no price for 'lua:m'"), "\(unknown.stderr)")

        let bad = try await orbiter(["run", "--prices", folder.appendingPathComponent("bad.json").path, script, "once"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(folder.appendingPathComponent("bad.json").path + ": 'lua:m'.input must be a number"), "\(bad.stderr)")
        let missing = try await orbiter(["run", "--prices", folder.appendingPathComponent("nope.json").path, script, "once"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.json: cannot read the price table"), "\(missing.stderr)")
    }

    @Test("bad budget flags are usage errors naming the flag", arguments: [
        (["--max-tokens-total", "-1"], "--max-tokens-total must be 0 or more"),
        (["--max-cost", "-0.5"], "--max-cost must be 0 or more"),
        (["--max-cost", "nan"], "--max-cost must be 0 or more"),
        (["--tenant", "a b"], "invalid tenant name 'a b'"),
    ])
    func badFlags(_ flags: [String], _ expected: String) async throws {
        let (script, _, _) = try files()
        let outcome = try await orbiter(["submit", script, "go", "--queue", queue] + flags)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
    }

    @Test("budget set, list, remove; bad input refused")
    func budgetCommands() async throws {
        let tenant = "t-" + queue
        let set = try await orbiter(["budget", "set", tenant, "--cost-per-day", "5", "--tokens-per-day", "100000"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout == "tenant '\(tenant)': budget set: 5 USD and 100000 tokens per day (UTC)\n")
        let replaced = try await orbiter(["budget", "set", tenant, "--cost-per-day", "2.5"])
        #expect(replaced.stdout.contains("budget replaced: 2.5 USD per day"), "\(replaced.stdout)")
        let list = try await orbiter(["budget", "list", "--json"])
        let entries = try #require(try json(list.stdout) as? [[String: Any]])
        let mine = try #require(entries.first { $0["tenant"] as? String == tenant })
        #expect(mine["cost_per_day"] as? Double == 2.5)
        #expect(mine["tokens_per_day"] is NSNull, "replacing drops the token limit")
        #expect(mine["spent_cost"] as? Double == 0)
        #expect(try await orbiter(["budget", "list"]).stdout.contains("\(tenant)  0 of 2.5 USD spent today"))
        #expect(try await orbiter(["budget", "remove", tenant]).status == 0)
        let again = try await orbiter(["budget", "remove", tenant])
        #expect(again.status == 1)
        #expect(again.stderr.contains("tenant '\(tenant)' has no budget; nothing removed"), "\(again.stderr)")
        for (args, expected) in [(["budget", "set", tenant], "give --cost-per-day USD and/or --tokens-per-day N"),
                                 (["budget", "set", tenant, "--cost-per-day", "-3"], "--cost-per-day must be 0 or more"),
                                 (["budget", "set", tenant, "--tokens-per-day", "-3"], "--tokens-per-day must be 0 or more"),
                                 (["budget", "set", "bad name", "--cost-per-day", "1"], "invalid tenant name")] {
            let outcome = try await orbiter(args)
            #expect(outcome.status == 2, "\(args)")
            #expect(outcome.stderr.contains(expected), "\(outcome.stderr)")
        }
    }

    @Test("a worker with --prices: task result --json has usage and cost; queue stats has tokens and cost per model")
    func workerPricesResultAndStats() async throws {
        let (script, prices, _) = try files()
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "w-\(queue)", "--prices", prices], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("started") }
        let id = try await orbiter(["submit", script, "once", "--queue", queue]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--json", "--timeout", "20"])
        #expect(result.status == 0, "\(result.stderr)")
        let dict = try #require(try json(result.stdout) as? [String: Any])
        #expect((dict["usage"] as? [String: Any])?["total_tokens"] as? Int == 200)
        #expect((dict["cost"] as? Double).map { abs($0 - 0.00028) < 1e-12 } == true, "\(dict)")

        let over = try await orbiter(["submit", script, "go", "--queue", queue, "--max-tokens-total", "150", "--wait"])
        #expect(over.status == 1)
        #expect(over.stderr.contains("task budget of 150 tokens exceeded: 200 tokens spent"), "\(over.stderr)")

        let stats = try #require(try json(try await orbiter(["queue", "stats", "--queue", queue, "--json"]).stdout) as? [String: Any])
        let models = try #require(stats["models_last_hour"] as? [[String: Any]])
        #expect(models.count == 1)
        #expect(models.first?["model"] as? String == "lua:m")
        #expect(models.first?["tasks"] as? Int == 2)
        #expect(models.first?["input_tokens"] as? Int == 240)
        let text = try await orbiter(["queue", "stats", "--queue", queue]).stdout
        #expect(text.contains("lua:m  2 tasks, 240 in / 160 out tokens, 0.00056 USD"), "\(text)")
    }
}
