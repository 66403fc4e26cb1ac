import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// `distributedMany`: many inputs, one pipelined submit each, in input order.
@Suite("Batch submit", .serialized)
struct BatchSubmitTests {
    func echo() throws -> (LuaRuntime, Runnable) {
        try load(try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function(req) return "echo " .. req.messages[#req.messages].content end }
            return orbiter.agent { name = "echo", model = m }
            """))
    }

    @Test("a batch of 10,000 inputs is submitted in order and completes on a real worker")
    func tenThousand() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let (runtime, root) = try echo()
            try fixture.startWorker(concurrency: 64, id: "batch-\(fixture.queue)")
            let inputs = (0..<10_000).map { BatchInput("n\($0)", metadata: ["i": String($0)]) }
            let started = ContinuousClock.now
            let handles = try await distributedMany(root, inputs, broker: broker, metadata: ["batch": "b1"], bundle: runtime.bundle)
            let submitted = ContinuousClock.now - started
            #expect(handles.count == 10_000)
            #expect(Set(handles.map(\.taskID)).count == 10_000)
            #expect(submitted < .seconds(20), "submitting took \(submitted)")
            try await eventually("every task to finish", timeout: .seconds(60)) {
                try await broker.statuses(handles.map(\.taskID)).allSatisfy { $0 == .completed }
            }
            // Input order: handle i ran input i, with the batch's and its own metadata.
            for i in [0, 1, 4_999, 9_999] {
                let status = try #require(try await broker.status(handles[i].taskID))
                #expect(status.metadata["i"] == String(i))
                #expect(status.metadata["batch"] == "b1")
                #expect(try await handles[i].result()["output"]?.stringValue == "echo n\(i)")
            }
            // The bundle is stored once.
            let bundles = try await broker.client.send(["KEYS", broker.keys.bundle("*")]).array ?? []
            #expect(bundles.count == 1)
        }
    }

    @Test("per-input idempotency keys: a batch sent twice makes its tasks once; refused inputs are named, the rest stay submitted")
    func idempotencyAndPartialFailure() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let (runtime, root) = try echo()
            let inputs = (0..<50).map { BatchInput("k\($0)", idempotencyKey: "key-\($0)") }
            let first = try await distributedMany(root, inputs, broker: broker, bundle: runtime.bundle, window: 7)
            let again = try await distributedMany(root, inputs, broker: broker, bundle: runtime.bundle)
            #expect(first.map(\.taskID) == again.map(\.taskID))
            #expect(try await broker.list(limit: 200).count == 50)
            // Key 3 given with other work: that input is refused, the others are submitted.
            var mixed = (100..<110).map { BatchInput("m\($0)") }
            mixed[4] = BatchInput("different", idempotencyKey: "key-3")
            do {
                _ = try await distributedMany(root, mixed, broker: broker, bundle: runtime.bundle)
                Issue.record("the conflicting input was accepted")
            } catch let partial as BatchSubmitError {
                #expect(partial.failures.map(\.index) == [4])
                #expect("\(partial.failures[0].error)".contains("key-3"))
                #expect(partial.handles.compactMap { $0 }.count == 9)
                #expect(partial.handles[4] == nil)
            }
            // A bad argument fails the whole batch before anything is stored.
            let before = try await broker.list(limit: 500).count
            await #expect(throws: DistributedError.self) {
                _ = try await distributedMany(root, [BatchInput("a"), BatchInput("b")], broker: broker, timeout: -1)
            }
            await #expect(throws: DistributedError.self) {
                _ = try await distributedMany(root, [BatchInput("a")], broker: broker, window: 0)
            }
            #expect(try await broker.list(limit: 500).count == before)
            #expect(try await distributedMany(root, [], broker: broker).isEmpty)
        }
    }
}
