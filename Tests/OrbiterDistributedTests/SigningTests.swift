import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import OrbiterTestSupport
import XCTest

/// Signed tasks are bound to their id, queue and an expiry; checkpoints are authenticated. Each
/// attack is what someone with write access to Redis (but not the secret) can do.
final class SigningTests: DistributedTestCase {
    let secret = "s3cret-for-signing-tests"

    private func signedBroker(queue: String? = nil, window: Int = QueueSettings.defaultSignatureWindow) throws -> TaskBroker {
        try TaskBroker(redisURL: redisURL, queue: queue ?? self.queue, settings: QueueSettings(secret: secret, signatureWindow: window))
    }

    @discardableResult
    private func startSignedWorker(queue: String? = nil, lease: Int = 30) throws -> Worker {
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue ?? self.queue, workerID: "signed-\(UUID().uuidString.prefix(6))",
            heartbeatTTL: 3, drainTimeout: .seconds(5), settings: QueueSettings(secret: secret), leaseSeconds: lease))
        workers.append((worker, Task { try await worker.run() }))
        return worker
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

    private func assertRefused(_ handle: TaskHandle, _ broker: TaskBroker, _ words: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        do {
            _ = try await handle.result(timeout: .seconds(10))
            XCTFail("the task should have been refused", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains("signature: "), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(words), "\(error)", file: file, line: line)
        }
        let state = try await handle.status()
        XCTAssertEqual(state?.status, .failed, file: file, line: line)
        XCTAssertEqual(state?.attempts, 1, "a refused task is not retried", file: file, line: line)
        let dead = try await broker.deadLetters(limit: 100)
        XCTAssertTrue(dead.contains { $0.taskID == handle.taskID && $0.reason.contains("signature: ") }, "\(dead)", file: file, line: line)
    }

    func testASignedTaskRunsAndItsSignatureNamesVersionTimesAndBundle() async throws {
        let broker = try signedBroker()
        let (runtime, agent) = try load(try calculator())
        try startSignedWorker()
        let handle = try await distributed(agent, "20 + 22", broker: broker, timeout: 60)
        let value = try await handle.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(value, "The answer is 42.")
        let signature = try await stored(handle, broker).signature.split(separator: ".")
        XCTAssertEqual(signature.count, 5)
        XCTAssertEqual(signature[0], "v2")
        let created = Int64(signature[1])!, expires = Int64(signature[2])!
        XCTAssertEqual(expires - created, 60_000 + Int64(QueueSettings.defaultSignatureWindow) * 1000, "timeout plus the window")
        XCTAssertEqual(String(signature[3]), runtime.bundle.sha256)
    }

    func testASignedPayloadCopiedUnderAnotherTaskIDIsRefused() async throws {
        let broker = try signedBroker()
        let (_, agent) = try load(try calculator())
        let original = try await distributed(agent, "1 + 1", broker: broker)
        let copy = try await stored(original, broker)
        let replayID = TaskID.make()
        try await plant(replayID, on: broker, payload: copy.payload, signature: copy.signature, bundle: nil)
        try startSignedWorker()
        let value = try await original.result(timeout: .seconds(10))["output"]
        XCTAssertEqual(value, "The answer is 2.", "the original still runs")
        try await assertRefused(try broker.handle(for: replayID), broker, "copied from another task id or queue")
    }

    func testASignedPayloadCopiedOntoAnotherQueueIsRefused() async throws {
        let broker = try signedBroker()
        let (_, agent) = try load(try calculator())
        let original = try await distributed(agent, "1 + 1", broker: broker)
        let copy = try await stored(original, broker)
        let otherQueue = queue + "-other"
        let other = try signedBroker(queue: otherQueue)
        // Same id, another queue: the bundle is copied too, so only the signature stands in the way.
        try await plant(original.taskID, on: other, payload: copy.payload, signature: copy.signature, bundle: copy.bundle)
        try startSignedWorker(queue: otherQueue)
        try await assertRefused(try other.handle(for: original.taskID), other, "copied from another task id or queue")
    }

    func testAnExpiredSignedTaskIsRefused() async throws {
        let broker = try signedBroker(window: 0)
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "1 + 1", broker: broker, timeout: 1)
        try await Task.sleep(for: .milliseconds(1300)) // past created_at + timeout (1 s) + window (0 s)
        try startSignedWorker()
        try await assertRefused(handle, broker, "expired at")
    }

    func testATamperedOrForgedSignatureIsRefused() async throws {
        let broker = try signedBroker()
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
        try startSignedWorker()
        try await assertRefused(handle, broker, "does not match its signature")
        try await assertRefused(old, broker, "not a v2 task signature")
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
    private func takeOver(withCheckpoint checkpoint: (String) -> String) async throws -> (JSONValue, [StreamEvent]) {
        let broker = try signedBroker()
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "2 + 2", broker: broker, detailed: true)
        _ = try? await broker.client.send(["XGROUP", "CREATE", broker.keys.stream, QueueKeys.group, "0", "MKSTREAM"])
        let claimed = try await broker.client.send(["XREADGROUP", "GROUP", QueueKeys.group, "ghost", "COUNT", 1, "STREAMS", broker.keys.stream, ">"])
        let entry = StreamReplies.firstStream(claimed)[0].id
        _ = try await broker.start([ClaimedEntry(entryID: entry, taskID: handle.taskID)], workerID: "ghost")
        _ = try await broker.client.send(["HSET", broker.keys.task(handle.taskID), "checkpoint", checkpoint(handle.taskID)])
        try startSignedWorker(lease: 1)
        let result = try await handle.result(timeout: .seconds(15))
        return (result, try await collect(handle.stream()))
    }

    private func resumed(_ events: [StreamEvent]) -> Bool {
        events.contains { if case .status(let s) = $0 { return s.status == .resumed } else { return false } }
    }

    func testAnAuthenticatedCheckpointIsResumed() async throws {
        // Sealed as a worker with the secret seals it, for the task it belongs to.
        let signer = TaskSignature(secret: secret)
        let (result, events) = try await takeOver { [queue] id in signer.sealCheckpoint(self.checkpoint(toolResult: "99"), queue: queue, taskID: id) }
        XCTAssertEqual(result["output"], "The answer is 99.", "resumed from the checkpoint")
        XCTAssertTrue(resumed(events))
    }

    func testATamperedCheckpointIsIgnoredAndTheTaskRunsFromTheStart() async throws {
        let signer = TaskSignature(secret: secret)
        let (result, events) = try await takeOver { [queue] id in
            signer.sealCheckpoint(self.checkpoint(toolResult: "99"), queue: queue, taskID: id).replacingOccurrences(of: "\"99\"", with: "\"666\"")
        }
        XCTAssertEqual(result["output"], "The answer is 4.", "ran from the start: \(result)")
        XCTAssertFalse(resumed(events))
        XCTAssertEqual(events.filter(\.isTerminal).count, 1)
    }

    func testAnUnauthenticatedCheckpointIsIgnored() async throws {
        // Plain JSON, as a worker without a secret (or an attacker) writes it.
        let (result, events) = try await takeOver { _ in self.checkpoint(toolResult: "99") }
        XCTAssertEqual(result["output"], "The answer is 4.")
        XCTAssertFalse(resumed(events))
        XCTAssertTrue(events.contains { if case .toolResult(let r) = $0 { return r.toolName == "add" && r.result == "4" } else { return false } })
    }

    func testACheckpointSealedForAnotherTaskIsIgnored() async throws {
        let signer = TaskSignature(secret: secret)
        let (result, events) = try await takeOver { [queue] _ in signer.sealCheckpoint(self.checkpoint(toolResult: "99"), queue: queue, taskID: TaskID.make()) }
        XCTAssertEqual(result["output"], "The answer is 4.")
        XCTAssertFalse(resumed(events))
    }

    func testSignatureChecksOffline() throws {
        let signer = TaskSignature(secret: secret)
        let claims = TaskSignature.Claims(createdAtMs: 1_000, expiresAtMs: 5_000, bundle: String(repeating: "a", count: 64))
        let signature = signer.sign(queue: "q", taskID: "t1", claims: claims, payload: "{}")
        XCTAssertEqual(try signer.verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000), claims)
        XCTAssertThrowsError(try signer.verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 5_001))
        XCTAssertThrowsError(try signer.verify(signature, queue: "q2", taskID: "t1", payload: "{}", nowMs: 4_000))
        XCTAssertThrowsError(try signer.verify(signature, queue: "q", taskID: "t2", payload: "{}", nowMs: 4_000))
        XCTAssertThrowsError(try signer.verify(signature, queue: "q", taskID: "t1", payload: "{ }", nowMs: 4_000))
        XCTAssertThrowsError(try TaskSignature(secret: "other").verify(signature, queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000))
        XCTAssertThrowsError(try signer.verify("", queue: "q", taskID: "t1", payload: "{}", nowMs: 4_000)) {
            XCTAssertTrue("\($0)".contains("not signed"), "\($0)")
        }
    }
}
