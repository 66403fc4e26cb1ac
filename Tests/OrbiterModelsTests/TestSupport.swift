import OrbiterCore
import OrbiterModels
import OrbiterTestSupport

/// Fast retries and short timeouts so failure cases finish in milliseconds.
let fastOptions = HTTPProviderOptions(
    retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(5), maxDelay: .milliseconds(20)),
    connectTimeout: .seconds(5), idleTimeout: .seconds(5))

/// Runs `body` with a started fake server and stops it afterwards, whatever happens.
func withServer(_ body: (FakeModelServer) async throws -> Void) async throws {
    let server = try await FakeModelServer.start()
    do {
        try await body(server)
    } catch {
        try? await server.stop()
        throw error
    }
    try await server.stop()
}

/// An environment pointing every provider at the fake server.
func environment(for server: FakeModelServer, _ extra: [String: String] = [:]) -> [String: String] {
    var env = ["OPENAI_API_KEY": "sk-test-openai", "OPENAI_BASE_URL": server.baseURL + "/v1",
               "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": server.baseURL,
               "OLLAMA_HOST": server.baseURL]
    env.merge(extra) { _, new in new }
    return env
}

/// A provider made the way the runner makes one: through a registry with the built-ins.
func makeProvider(_ qualifiedModel: String, environment: [String: String], settings: ModelSettings = ModelSettings(),
                  options: HTTPProviderOptions = fastOptions) throws -> any ModelProvider {
    let registry = ProviderRegistry()
    BuiltinProviders.register(in: registry, environment: environment, options: options)
    return try registry.provider(for: qualifiedModel, settings: settings)
}

/// What one `complete` call produced: events with arrival times, and the error it ended with.
struct Outcome {
    var events: [ModelStreamEvent] = []
    var times: [ContinuousClock.Instant] = []
    var error: (any Error)?
    var finishedAt = ContinuousClock.now

    var modelError: ModelError? { error as? ModelError }
    var texts: [String] { events.compactMap { if case .text(let t) = $0 { t } else { nil } } }
}

func complete(_ provider: any ModelProvider, _ request: ModelRequest) async -> Outcome {
    var outcome = Outcome()
    do {
        try await provider.complete(request) { event in
            outcome.events.append(event)
            outcome.times.append(.now)
        }
    } catch {
        outcome.error = error
    }
    outcome.finishedAt = .now
    return outcome
}

/// A small conversation with a system prompt and one tool.
func weatherRequest(model: String = "gpt-4o", messages: [Message]? = nil) -> ModelRequest {
    ModelRequest(
        model: model,
        messages: messages ?? [.system("You are helpful."), .user("Weather in Paris?")],
        tools: [ToolSpec(name: "get_weather", description: "Current weather for a city",
                         parameters: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]])])
}
