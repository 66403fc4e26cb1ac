import Foundation
import OrbiterCore
@testable import OrbiterDistributed
import OrbiterLua
import OrbiterRedis
import XCTest

/// A run streaming many small events: every one is stored, in order, once, and they go to Redis
/// in batches (far fewer script calls than events).
final class EventBatchingTests: DistributedTestCase {
    func evalshaCalls(_ client: RedisClient) async throws -> Int {
        let info = try await client.send(["INFO", "commandstats"]).string ?? ""
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_evalsha:") }),
              let calls = line.split(separator: ",").first?.split(separator: "=").last else { return 0 }
        return Int(calls) ?? 0
    }

    func testAStreamOfManySmallEventsIsStoredInOrderInBatches() async throws {
        try startWorker()
        let (_, agent) = try load(try script("""
            local orbiter = require "orbiter"
            local chunks = {}
            for i = 1, 2000 do chunks[i] = tostring(i) .. " " end
            local m = orbiter.model { name = "m", respond = function() return { content = chunks } end }
            return orbiter.agent { name = "streamer", model = m }
            """))
        let b = try broker()
        let before = try await evalshaCalls(b.client)
        let handle = try await distributed(agent, "go", broker: b)
        let events = try await collect(handle.stream())
        let after = try await evalshaCalls(b.client)
        let texts = events.compactMap { e -> String? in if case .text(let t) = e { return t.text } else { return nil } }
        XCTAssertEqual(texts, (1...2000).map { "\($0) " }, "every delta, in order, once")
        XCTAssertLessThan(after - before, 1000, "2,000 events should take far fewer than 2,000 script calls")
        print("2,000 events: \(after - before) script calls in all")
    }
}
