import Foundation
import OrbiterTestSupport
import Testing

/// `--redis-url redis-sentinel://...` through the binary: bad forms, no sentinel up, a live group.
@Suite("Sentinel URLs on the command line", .serialized)
struct SentinelCLITests {
    @Test("a bad Sentinel URL and unreachable sentinels exit 2 naming what is wrong")
    func badURLAndNoSentinels() async throws {
        let bad = try await OrbiterBinary.run(["task", "list", "--redis-url", "redis-sentinel://127.0.0.1:26379/"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("missing master name"), "\(bad.stderr)")
        let port = try freePort()
        let down = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--redis-url",
                                                "redis-sentinel://:secret@127.0.0.1:\(port)/mymaster?sentinel_password=alsosecret"])
        #expect(down.status == 2)
        #expect(down.stderr.contains("no Redis master 'mymaster' found through the sentinels")
                && down.stderr.contains("sentinel 127.0.0.1:\(port)"), "\(down.stderr)")
        #expect(!down.stderr.contains("secret"), "passwords are never printed: \(down.stderr)")
    }

    @Test("submit and status go to the master the sentinels name")
    func submitThroughSentinels() async throws {
        let group = try PrivateSentinels()
        let queue = "s-" + UUID().uuidString.prefix(8).lowercased()
        let submitted = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--redis-url", group.url])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try await OrbiterBinary.run(["task", "status", id, "--queue", queue, "--json", "--redis-url", group.url])
        #expect(status.status == 0 && status.stdout.contains("\"pending\""), "\(status.stdout) \(status.stderr)")
        let onMaster = PrivateSentinels.cli(group.master.port, ["exists", "{orbiter:\(queue)}:task:\(id)"])
        #expect(onMaster.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "the task is on the master")
    }
}
