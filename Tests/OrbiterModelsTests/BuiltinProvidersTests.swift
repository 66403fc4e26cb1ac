import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

@Suite("Provider registration and configuration")
struct BuiltinProvidersTests {
    @Test("an unknown provider lists the known ones")
    func unknownProviderListsTheKnownOnes() throws {
        let registry = ProviderRegistry()
        BuiltinProviders.register(in: registry, environment: [:])
        #expect(registry.names == ["anthropic", "ollama", "openai"])
        let error = #expect(throws: OrbiterError.self) { try registry.provider(for: "mistral:large") }
        #expect(error?.description.contains("known providers: anthropic, ollama, openai") == true)
    }

    @Test("a missing key names the variable to set")
    func missingKeyNamesTheVariableToSet() throws {
        let registry = ProviderRegistry()
        BuiltinProviders.register(in: registry, environment: [:])
        let openAI = #expect(throws: ModelError.self) { try registry.provider(for: "openai:gpt-4o") }
        #expect(openAI?.message.contains("OPENAI_API_KEY") == true)
        let anthropic = #expect(throws: ModelError.self) { try registry.provider(for: "anthropic:claude-sonnet-4-5") }
        #expect(anthropic?.message.contains("ANTHROPIC_API_KEY") == true)
        let custom = #expect(throws: ModelError.self) {
            try registry.provider(for: "openai:gpt-4o", settings: ModelSettings(apiKeyEnv: "TEAM_KEY"))
        }
        #expect(custom?.message.contains("TEAM_KEY") == true)
        // Ollama needs no key.
        _ = try registry.provider(for: "ollama:llama3.2")
    }

    @Test("settings' base URL and key variable override the environment")
    func settingsBaseURLAndKeyVariableOverrideTheEnvironment() async throws {
        try await withServer { server in
            server.enqueue(.openAIReply("custom"))
            let env = environment(for: server, ["OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "TEAM_KEY": "sk-team"])
            let settings = ModelSettings(baseURL: server.baseURL + "/custom/v1/", apiKeyEnv: "TEAM_KEY")
            let provider = try makeProvider("openai:local-model", environment: env, settings: settings)
            let outcome = await complete(provider, weatherRequest(model: "local-model"))
            #expect(outcome.texts == ["custom"])
            #expect(server.requests.first?.path == "/custom/v1/chat/completions")
            #expect(server.requests.first?.header("authorization") == "Bearer sk-team")
        }
    }

    @Test("OPENAI_BASE_URL from the environment needs no key")
    func openAIBaseURLFromEnvironmentNeedsNoKey() async throws {
        try await withServer { server in
            server.enqueue(.openAIReply("vllm"))
            let provider = try makeProvider("openai:qwen", environment: ["OPENAI_BASE_URL": server.baseURL + "/v1"])
            let outcome = await complete(provider, weatherRequest(model: "qwen"))
            #expect(outcome.texts == ["vllm"])
            #expect(server.requests.first?.path == "/v1/chat/completions")
            #expect(server.requests.first?.header("authorization") == nil)
        }
    }

    @Test("Ollama uses OLLAMA_HOST")
    func ollamaUsesOllamaHost() async throws {
        try await withServer { server in
            server.enqueue(.openAIReply("llama"))
            // Ollama accepts a bare host:port in OLLAMA_HOST.
            let provider = try makeProvider("ollama:llama3.2", environment: ["OLLAMA_HOST": "127.0.0.1:\(server.port)"])
            let outcome = await complete(provider, weatherRequest(model: "llama3.2"))
            #expect(outcome.texts == ["llama"])
            #expect(outcome.error == nil)
            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.header("authorization") == nil)
            #expect(sent.json?["model"] == "llama3.2")
        }
    }

    @Test("ANTHROPIC_BASE_URL from the environment")
    func anthropicBaseURLFromEnvironment() async throws {
        try await withServer { server in
            server.enqueue(.anthropicReply("proxied"))
            let env = ["ANTHROPIC_API_KEY": "sk-ant", "ANTHROPIC_BASE_URL": server.baseURL + "/proxy/"]
            let provider = try makeProvider("anthropic:claude-haiku", environment: env)
            let outcome = await complete(provider, weatherRequest(model: "claude-haiku"))
            #expect(outcome.texts == ["proxied"])
            #expect(server.requests.first?.path == "/proxy/v1/messages")
        }
    }
}
