import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
@testable import OrbiterQueue
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Status reads fetch the fields they show, never the payload: a task with megabytes of input
/// costs `status()` and `list()` a few hundred bytes.
@Suite(.serialized) struct StatusReadTests {
    func bytesSent(_ client: RedisClient) async throws -> Int {
        let info = try await client.send(["INFO", "stats"]).string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_net_output_bytes:") } ?? ""
        return Int(line.split(separator: ":").last ?? "") ?? 0
    }

    @Test("status and list of a task with a 5 MB input move kilobytes, and keep its metadata")
    func statusReadsSkipThePayload() async throws {
        let folder = try temporaryFolder("status", files: ["a.lua": """
            return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function() return "ok" end } }
            """])
        let runtime = try LuaRuntime(file: folder.appendingPathComponent("a.lua").path)
        let queue = "status-" + UUID().uuidString.prefix(8).lowercased(), url = try TestRedis.url()
        let broker = try TaskBroker(redisURL: url, queue: queue)
        let input = String(repeating: "x", count: 5 << 20)
        let handle = try await distributed(try runtime.root(), input, broker: broker, metadata: ["user": "ada"])
        let probe = RedisClient(url: try RedisURL(url))

        let before = try await bytesSent(probe)
        let status = try #require(try await handle.status())
        let afterStatus = try await bytesSent(probe)
        let listed = try await broker.list(limit: 5)
        let afterList = try await bytesSent(probe)
        #expect(status.status == .pending)
        #expect(status.metadata["user"] == "ada")
        #expect(listed.first?.metadata["user"] == "ada")
        // INFO itself is a few KB; the payload would be 5 MB.
        #expect(afterStatus - before < 64 << 10, "status() moved \(afterStatus - before) bytes")
        #expect(afterList - afterStatus < 64 << 10, "list() moved \(afterList - afterStatus) bytes")

        // A task stored before metadata had its own field still shows it (read from the payload).
        _ = try await probe.send(["HDEL", broker.keys.task(handle.taskID), "metadata"])
        #expect(try await handle.status()?.metadata["user"] == "ada")
    }
}
