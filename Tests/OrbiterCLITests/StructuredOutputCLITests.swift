import Foundation
import OrbiterTestSupport
import Testing

/// Structured output from the command line: `run` prints the accepted answer and `parsed` in its
/// JSON status line, `task result --json` carries `parsed`, `check` shows the new fields.
@Suite("Structured output from the CLI", .serialized)
struct StructuredOutputCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws {
        let (base, queue) = try testQueue("so")
        env = base.merging(Self.offline) { _, new in new }
        self.queue = queue
    }

    /// The offline model of examples/triage.lua, whatever the developer's environment says.
    static let offline = ["ORBITER_MODEL": ""]

    func json(_ line: some StringProtocol) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    @Test("run: stdout is the answer that matched the schema; --json ends with parsed")
    func run() async throws {
        let plain = try await OrbiterBinary.run(["run", "examples/triage.lua", "Broken upload!"], environment: Self.offline)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout == #"{"confidence":0.9,"label":"bug","summary":"Broken upload!"}"# + "\n", "the repaired answer only")
        #expect(plain.stderr.contains(#"[triage] {"label":"bug"}"#), "the first try is progress: \(plain.stderr)")

        let lines = try await OrbiterBinary.run(["run", "--json", "examples/triage.lua", "How do I export my data?"],
                                                environment: Self.offline).stdout.split(separator: "\n")
        let last = try json(try #require(lines.last))
        #expect(last["status"] as? String == "completed")
        let parsed = try #require(last["parsed"] as? [String: Any])
        #expect(parsed["label"] as? String == "question")
        #expect(parsed["confidence"] as? Double == 0.6)
    }

    @Test("check shows output, hooks and settings as they travel")
    func check() async throws {
        let r = try await OrbiterBinary.run(["check", "examples/triage.lua"], environment: Self.offline)
        #expect(r.status == 0, "\(r.stderr)")
        let dict = try json(r.stdout)
        #expect(dict["hooks"] as? [String] == ["on_output"])
        #expect((dict["output"] as? [String: Any])?["required"] as? [String] == ["label", "confidence", "summary"])
        #expect(!r.stderr.contains("warning"), "it loads on a worker too: \(r.stderr)")
    }

    @Test("task result --json and submit --stream --json carry parsed from a worker")
    func worker() async throws {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "so-\(queue)"], environment: env)
        try await worker.waitFor { _, err in err.contains("worker so-\(self.queue) started") }
        let submitted = try await orbiter(["submit", "examples/triage.lua", "The app crashes", "--queue", queue])
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--json", "--timeout", "20"])
        #expect(result.status == 0, "\(result.stderr)")
        let parsed = try #require(try json(result.stdout)["parsed"] as? [String: Any])
        #expect(parsed["label"] as? String == "bug")
        let text = try await orbiter(["task", "result", id, "--queue", queue])
        #expect(text.stdout == #"{"confidence":0.9,"label":"bug","summary":"The app crashes"}"# + "\n")

        let streamed = try await orbiter(["submit", "examples/triage.lua", "Broken!", "--stream", "--json", "--queue", queue])
        let last = try json(try #require(streamed.stdout.split(separator: "\n").last))
        #expect((last["parsed"] as? [String: Any])?["label"] as? String == "bug", "\(streamed.stdout)")
        worker.signal(SIGTERM)
        _ = try await worker.finish(timeout: .seconds(10))
    }
}
