import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Signed tasks are bound to their id, queue and an expiry; checkpoints are authenticated. Each
/// attack is what someone with write access to Redis (but not the secret) can do.
@Suite("Signing", .serialized)
struct SigningTests {
    let secret = "s3cret-for-signing-tests"

    private func signedBroker(_ fixture: DistributedFixture, queue: String? = nil,
                              window: Int = QueueSettings.defaultSignatureWindow) throws -> TaskBroker {
        try TaskBroker(redisURL: fixture.redisURL, queue: queue ?? fixture.queue, settings: QueueSettings(secret: secret, signatureWindow: window))
    }

    @discardableResult
    private func startSignedWorker(_ fixture: DistributedFixture, queue: String? = nil, lease: Int = 30) throws -> Worker {
        try fixture.start(WorkerConfiguration(
            redisURL: fixture.redisURL, queue: queue ?? fixture.queue, workerID: "signed-\(UUID().uuidString.prefix(6))",
            heartbeatTTL: 3, drainTimeout: .seconds(5), settings: QueueSettings(secret: secret), leaseSeconds: lease))
    }

    /// Writes a pending task straight into Redis, as an attacker with Redis access could: a copy
    /// of another task's payload and signature under `taskID` on the queue of `broker`.
    private func plant(_ taskID: String, on broker: TaskBroker, payload: String, signature: String, bundle: String?) async throws {
        let now = String(TaskBroker.nowMs())
        if let bundle {
            _ = try await broker.client.send(["SET", broker.keys.bundle(try ScriptBundle(jsonText: bundle).sha256), bundle])
        }
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let entry = try await broker.client.send(["XADD", broker.keys.stream, "*", "task", taskID]).string ?? ""
        _ = try await broker.client.send(["HSET", broker.keys.task(taskID), "status", "pending", "payload", payload, "signature", signature,
                                          "created_at", now, "attempts", 0, "entry", entry])
        _ = try await broker.client.send(["ZADD", broker.keys.index, now, taskID])
    }

    private func stored(_ handle: TaskHandle, _ broker: TaskBroker) async throws -> (payload: String, signature: String, bundle: String?) {
        let fields = try await broker.client.send(["HMGET", broker.keys.task(handle.taskID), "payload", "signature", "bundle"]).array ?? []
        let sha = fields[2].string ?? ""
        let bundle = sha.isEmpty ? nil : try await broker.client.send(["GET", broker.keys.bundle(sha)]).string
        return (fields[0].string ?? "", fields[1].string ?? "", bundle)
    }

    private func expectRefused(_ handle: TaskHandle, _ broker: TaskBroker, _ words: String,
                               sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
            _ = try await handle.result(timeout: .seconds(10))
            Issue.record("the task should have been refused", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains("signature: "), "\(error)", sourceLocation: sourceLocation)
            #expect("\(error)".contains(words), "\(error)", sourceLocation: sourceLocation)
        }
        let state = try await handle.status()
        #expect(state?.status == .failed, sourceLocation: sourceLocation)
        #expect(state?.attempts == 1, "a refused task is not retried", sourceLocation: sourceLocation)
        let dead = try await broker.deadLetters(limit: 100)
        #expect(dead.contains { $0.taskID == handle.taskID && $0.reason.contains("signature: ") }, "\(dead)", sourceLocation: sourceLocation)
    }

    @Test("a signed task runs, and its signature names version, times and bundle")
    func aSignedTaskRunsAndItsSignatureNamesVersionTimesAndBundle() async throws {
        try await withDistributedFixture { fixture in
            let broker = try signedBroker(fixture)
            let (runtime, agent) = try load(try calculator())
            try startSignedWorker(fixture)
            let handle = try await distributed(agent, "20 + 22", broker: broker, timeout: 60)
            let value = try await handle.result(timeout: .seconds(10))["output"]
            #expect(value == "The answer is 42.")
            let signature = try await stored(handle, broker).signature.split(separator: ".")
            #expect(signature.count == 5)
            #expect(signature[0] == "v2")
            let created = Int64(signature[1])!, expires = Int64(signature[2])!
            #expect(expires - created == 60_000 + Int64(QueueSettings.defaultSignatureWindow) * 1000, "timeout plus the window")
            #expect(String(signature[3]) == runtime.bundle.sha256)
        }
    }

    @Test("a signed payload copied under another task ID is refused")
    func aSignedPayloadCopiedUnderAnotherTaskIDIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try signedBroker(fixture)
            let (_, agent) = try load(try calculator())
            let original = try await distributed(agent, "1 + 1", broker: broker)
            let copy = try await stored(original, broker)
            let replayID = TaskID.make()
            try await plant(replayID, on: broker, payload: copy.payload, signature: copy.signature, bundle: nil)
            try startSignedWorker(fixture)
            let value = try await original.result(timeout: .seconds(10))["output"]
            #expect(value == "The answer is 2.", "the original still runs")
            try await expectRefused(try broker.handle(for: replayID), broker, "copied from another task id or queue")
        }
    }

    @Test("a signed payload copied onto another queue is refused")
    func aSignedPayloadCopiedOntoAnotherQueueIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try signedBroker(fixture)
            let (_, agent) = try load(try calculator())
            let original = try await distributed(agent, "1 + 1", broker: broker)
            let copy = try await stored(original, broker)
            let otherQueue = fixture.queue + "-other"
            let other = try signedBroker(fixture, queue: otherQueue)
            // Same id, another queue: the bundle is copied too, so only the signature stands in the way.
            try await plant(original.taskID, on: other, payload: copy.payload, signature: copy.signature, bundle: copy.bundle)
            try startSignedWorker(fixture, queue: otherQueue)
            try await expectRefused(try other.handle(for: original.taskID), other, "copied from another task id or queue")
        }
    }

    @Test("an expired signed task is refused")
    func anExpiredSignedTaskIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try signedBroker(fixture, window: 0)
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "1 + 1", broker: broker, timeout: 1)
            try await Task.sleep(for: .milliseconds(1300)) // past created_at + timeout (1 s) + window (0 s)
            try startSignedWorker(fixture)
            try await expectRefused(handle, broker, "expired at")
        }
    }

    @Test("a tampered or forged signature is refused")
    func aTamperedOrForgedSignatureIsRefused() async throws {
        try await withDistributedFixture { fixture in
            let broker = try signedBroker(fixture)
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "1 + 1", broker: broker)
            let copy = try await stored(handle, broker)
            // Push the expiry out without the secret: the MAC no longer matches.
            var parts = copy.signature.split(separator: ".").map(String.init)
            parts[2] = String(Int64(parts[2])! + 365 * 86_400_000)
            _ = try await broker.client.send(["HSET", broker.keys.task(handle.taskID), "signature", parts.joined(separator: ".")])
            // A signature of the old format (a bare HMAC of the payload) is refused as such.
            let old = try await distributed(agent, "1 + 1", broker: broker)
            _ = try await broker.client.send(["HSET", broker.keys.task(old.taskID), "signature", String(repeating: "ab", count: 32)])
            try startSignedWorker(fixture)
            try await expectRefused(handle, broker, "does not match its signature")
            try await expectRefused(old, broker, "not a v2 task signature")
        }
    }

    // MARK: Checkpoints

    /// A checkpoint after step 1 of the calculator whose tool said `toolResult`: resumed from it,
    /// the task answers "The answer is <toolResult>."; run from the start, it computes 2 + 2.
    private func checkpoint(toolResult: String) -> String {
        Checkpoint(messages: [.user("2 + 2"), .assistant("", toolCalls: [ToolCall(id: "c1", name: "add", arguments: #"{"a":2,"b":2}"#)]),
                              .tool(toolResult, callID: "c1", name: "add")],
                   usage: Usage(), steps: 1).json.jsonString
    }

    /// Submits "2 + 2", lets a ghost worker start it, stores `checkpoint(taskID)` as its
    /// checkpoint, and lets a real worker take it over once the ghost's 1 s lease lapses.
    private func takeOver(_ fixture: DistributedFixture,
                          withCheckpoint checkpoint: (String) -> String) async throws -> (JSONValue, [StreamEvent]) {
        let broker = try signedBroker(fixture)
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "2 + 2", broker: broker, detailed: true)
        try await startAsGhost(broker)
        _ = try await broker.client.send(["HSET", broker.keys.task(handle.taskID), "checkpoint", checkpoint(handle.taskID)])
        try startSignedWorker(fixture, lease: 1)
        let result = try await handle.result(timeout: .seconds(15))
        return (result, try await collectOrThrow(handle.stream()))
    }

    private func resumed(_ events: [StreamEvent]) -> Bool {
        events.contains { if case .status(let s) = $0 { return s.status == .resumed } else { return false } }
    }

    @Test("an authenticated checkpoint is resumed")
    func anAuthenticatedCheckpointIsResumed() async throws {
        try await withDistributedFixture { fixture in
            // Sealed as a worker with the secret seals it, for the task it belongs to.
            let signer = TaskSignature(secret: secret)
            let (result, events) = try await takeOver(fixture) { id in
                signer.sealCheckpoint(checkpoint(toolResult: "99"), queue: fixture.queue, taskID: id)
            }
            #expect(result["output"] == "The answer is 99.", "resumed from the checkpoint")
            #expect(resumed(events))
        }
    }

    @Test("a tampered checkpoint is ignored and the task runs from the start")
    func aTamperedCheckpointIsIgnoredAndTheTaskRunsFromTheStart() async throws {
        try await withDistributedFixture { fixture in
            let signer = TaskSignature(secret: secret)
            let (result, events) = try await takeOver(fixture) { id in
                signer.sealCheckpoint(checkpoint(toolResult: "99"), queue: fixture.queue, taskID: id).replacingOccurrences(of: "\"99\"", with: "\"666\"")
            }
            #expect(result["output"] == "The answer is 4.", "ran from the start: \(result)")
            #expect(!resumed(events))
            #expect(events.filter(\.isTerminal).count == 1)
        }
    }

    @Test("an unauthenticated checkpoint is ignored")
    func anUnauthenticatedCheckpointIsIgnored() async throws {
        try await withDistributedFixture { fixture in
            // Plain JSON, as a worker without a secret (or an attacker) writes it.
            let (result, events) = try await takeOver(fixture) { _ in checkpoint(toolResult: "99") }
            #expect(result["output"] == "The answer is 4.")
            #expect(!resumed(events))
            #expect(events.contains { if case .toolResult(let r) = $0 { return r.toolName == "add" && r.result == "4" } else { return false } })
        }
    }

    @Test("a checkpoint sealed for another task is ignored")
    func aCheckpointSealedForAnotherTaskIsIgnored() async throws {
        try await withDistributedFixture { fixture in
            let signer = TaskSignature(secret: secret)
            let (result, events) = try await takeOver(fixture) { _ in
                signer.sealCheckpoint(checkpoint(toolResult: "99"), queue: fixture.queue, taskID: TaskID.make())
            }
            #expect(result["output"] == "The answer is 4.")
            #expect(!resumed(events))
        }
    }

    @Test("signatures check offline")
    func signatureChecksOffline() throws {
        let signer = TaskSignature(secret: secret)
        let claims = TaskSignature.Claims(createdAtMs: 1_000, expiresAtMs: 5_000, bundle: String(repeating: "a", count: 64))
        let signature = signer.sign(queue: "q", taskID: "t1", claims: claims, payload: "{}")
        #expect(try signer.verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000) == claims)
        #expect(throws: (any Error).self) { try signer.verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 5_001) }
        #expect(throws: (any Error).self) { try signer.verify(signature, queue: "q2", taskID: "t1", payload: "{}", nowMs: 4_000) }
        #expect(throws: (any Error).self) { try signer.verify(signature, queue: "q", taskID: "t2", payload: "{}", nowMs: 4_000) }
        #expect(throws: (any Error).self) { try signer.verify(signature, queue: "q", taskID: "t1", payload: "{ }", nowMs: 4_000) }
        #expect(throws: (any Error).self) {
            try TaskSignature(secret: "other").verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000)
        }
        let unsigned = #expect(throws: (any Error).self) { try signer.verify("", queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000) }
        if let unsigned { #expect("\(unsigned)".contains("not signed"), "\(unsigned)") }
    }

    @Test("a reply to a parked task is signed for its request; one written without the secret is ignored and the run asks again")
    func repliesAreSigned() async throws {
        try await withDistributedFixture { fixture in
            let logs = LogLines()
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "signed-hitl",
                                                  settings: QueueSettings(secret: secret), logger: logs.logger(level: .warning)))
            let broker = try signedBroker(fixture)
            let agent = try load(OrbiterBinary.repositoryRoot.appendingPathComponent("examples/approval.lua").path).1
            let handle = try await distributed(agent, "Refund 8", broker: broker)
            try await eventually("the task to park") { try await handle.status()?.status == .waiting }
            let first = try #require(try await handle.pendingInput())
            let forger = try TaskBroker(redisURL: fixture.redisURL, queue: fixture.queue, settings: QueueSettings(secret: nil))
            #expect(try await forger.reply(handle.taskID, .approved) == .resumed, "Redis takes it...")
            try await eventually("the task to park again") {
                let pending = try await handle.pendingInput()
                return pending != nil && pending?.id != first.id
            }
            #expect(logs.text.contains("ignoring a reply that is not signed for it"), "...the worker does not: \(logs.text)")
            #expect(try await broker.reply(handle.taskID, .approved) == .resumed)
            #expect(try await handle.result(timeout: .seconds(10))["output"] == "Done: refunded 8.")
            let events = try await EventSubscriber(fixture.redisURL, queue: fixture.queue).replay(handle.taskID).map(\.event)
            let runs = events.filter { if case .text(let t) = $0 { return t.text.contains("refunded") } else { return false } }
            #expect(runs.count == 1)
        }
    }
}
