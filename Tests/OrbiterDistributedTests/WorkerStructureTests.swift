import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
import OrbiterModels
@testable import OrbiterQueue
import OrbiterTestSupport
@testable import OrbiterWorker
import ServiceLifecycle
import Testing

/// The worker's parts as a library sees them: one decided outcome per run, providers of its own,
/// and a `Service` that drains when its group shuts down.
@Suite(.serialized) struct WorkerStructureTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var error: any Error
        var reason: StopReason?
        var attempt = 1
        var reported = false
        var expected: TaskOutcome
        var testDescription: String { "\(expected)" }
    }

    static let retryable = ModelError(provider: "p", model: "m", status: 503, message: "overloaded", retryable: true)
    static let permanent = ModelError(provider: "p", model: "m", status: 400, message: "bad request", retryable: false)

    @Test("each way a run ends maps to one outcome", arguments: [
        Case(error: CancellationError(), reason: .leaseLost, expected: .abandoned),
        Case(error: retryable, reason: .leaseLost, expected: .abandoned),
        Case(error: CancellationError(), reason: .timeout,
             expected: .failed(message: OrbiterError.timeout(seconds: 7).description, errorType: OrbiterError.timeout(seconds: 7).typeName,
                               report: true)),
        Case(error: CancellationError(), reason: .requested, expected: .cancelled),
        Case(error: CancellationError(), reason: .shutdown, expected: .handBack),
        Case(error: retryable, attempt: 1, expected: .retry(message: errorMessage(retryable))),
        // The one retry allowed was used: the second attempt's failure is final.
        Case(error: retryable, attempt: 2, expected: .failed(message: errorMessage(retryable), errorType: errorTypeName(retryable), report: true)),
        Case(error: permanent, reported: true, expected: .failed(message: errorMessage(permanent), errorType: errorTypeName(permanent), report: false)),
    ])
    func outcomes(_ c: Case) {
        let outcome = TaskOutcome.of(error: c.error, stopReason: c.reason, attempt: c.attempt, maxRetries: 1, timeout: 7, reported: c.reported)
        #expect(outcome == c.expected)
    }

    /// A queue name of its own per test.
    func queue() -> String { "structure-" + UUID().uuidString.prefix(8).lowercased() }

    @Test("a worker made by a library finds the built-in providers without any registration")
    func libraryWorkerHasBuiltinProviders() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        server.enqueue(.openAIReply("hello from the provider"))
        let folder = try temporaryFolder("structure", files: [
            "remote.lua": #"return orbiter.agent { name = "remote", model = "openai:gpt-4o" }"#,
        ])
        // The environment a deployment would give it; nothing is registered in the process.
        let providers = BuiltinProviders.registry(environment: ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"])
        var options = LuaRuntime.Options()
        options.providers = providers
        let runtime = try LuaRuntime(file: folder.appendingPathComponent("remote.lua").path, options: options)
        let queue = queue(), url = try TestRedis.url()
        var configuration = WorkerConfiguration(redisURL: url, queue: queue)
        #expect(configuration.providers.names == ["anthropic", "ollama", "openai"], "a worker has the built-in providers by default")
        configuration.providers = providers
        let worker = try Worker(configuration: configuration)
        let running = Task { try await worker.run() }
        defer { worker.stop() }
        let handle = try await distributed(try runtime.root(), "hi", redisURL: url, queue: queue)
        let result = try await handle.result(timeout: .seconds(20))
        #expect(result["output"]?.stringValue == "hello from the provider")
        worker.stop()
        try await running.value
    }

    @Test("as a service of a group, the worker drains its running task when the group shuts down")
    func workerDrainsOnGracefulShutdown() async throws {
        let folder = try temporaryFolder("structure", files: ["slow.lua": """
            local m = orbiter.model { name = "m", respond = function() orbiter.sleep(0.5) return "finished" end }
            return orbiter.agent { name = "slow", model = m }
            """])
        let runtime = try LuaRuntime(file: folder.appendingPathComponent("slow.lua").path)
        let queue = queue(), url = try TestRedis.url()
        let worker = try Worker(configuration: WorkerConfiguration(redisURL: url, queue: queue, drainTimeout: .seconds(10)))
        let group = ServiceGroup(services: [worker], logger: .init(label: "test"))
        let running = Task { try await group.run() }
        let handle = try await distributed(try runtime.root(), "go", redisURL: url, queue: queue)
        // Shut down once the task runs: the worker stops claiming and lets it finish.
        for _ in 0..<200 where try await handle.status()?.status != .running { try await Task.sleep(for: .milliseconds(10)) }
        await group.triggerGracefulShutdown()
        try await running.value
        let status = try await handle.status()
        #expect(status?.status == .completed)
        #expect(status?.attempts == 1)
        #expect(!worker.isHealthy)
    }
}
