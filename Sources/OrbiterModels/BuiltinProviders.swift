import AsyncHTTPClient
import Foundation
import OrbiterCore

/// Registers the HTTP providers Orbiter ships with: `openai`, `anthropic` and `ollama`.
///
/// Environment variables are read each time a provider is made (not at registration), so a program
/// or test can pass its own environment and a changed key takes effect on the next run.
public enum BuiltinProviders {
    /// A new registry holding `openai`, `anthropic` and `ollama` (see `register`).
    public static func registry(environment: [String: String] = ProcessInfo.processInfo.environment) -> ProviderRegistry {
        let registry = ProviderRegistry()
        register(in: registry, environment: environment)
        return registry
    }

    /// Adds `openai`, `anthropic` and `ollama` to `registry`.
    ///
    /// - `openai`: key from `OPENAI_API_KEY`, base URL from `OPENAI_BASE_URL` (any compatible server).
    /// - `anthropic`: key from `ANTHROPIC_API_KEY`, base URL from `ANTHROPIC_BASE_URL`.
    /// - `ollama`: the OpenAI protocol at `OLLAMA_HOST` + `/v1`, no key.
    /// An agent's `settings.baseURL` replaces the base URL and `settings.apiKeyEnv` names the key's variable.
    /// `httpClient` is made when the first HTTP model is, so offline runs start no network threads;
    /// by default one with `options.connectTimeout` that fails a refused connection at once.
    public static func register(in registry: ProviderRegistry = .shared,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                httpClient: @autoclosure @escaping @Sendable () -> HTTPClient? = nil,
                                options: HTTPProviderOptions = HTTPProviderOptions()) {
        let httpClient: @Sendable () -> HTTPClient = { ProviderHTTPClient.or(httpClient(), options) }
        registry.register("openai") { model, settings in
            let envBase = environment["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            let baseURL = settings.baseURL ?? envBase ?? OpenAICompatibleProvider.defaultBaseURL
            // A key is optional for a self-hosted compatible server, but OpenAI itself needs one.
            let required = settings.apiKeyEnv != nil || (settings.baseURL == nil && envBase == nil)
            let key = try apiKey(provider: "openai", model: model, variable: settings.apiKeyEnv ?? "OPENAI_API_KEY",
                                 environment: environment, required: required)
            return OpenAICompatibleProvider(name: "openai", model: model, baseURL: baseURL, apiKey: key,
                                            httpClient: httpClient(), options: options)
        }
        registry.register("anthropic") { model, settings in
            let baseURL = settings.baseURL ?? environment["ANTHROPIC_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
                ?? AnthropicProvider.defaultBaseURL
            let key = try apiKey(provider: "anthropic", model: model, variable: settings.apiKeyEnv ?? "ANTHROPIC_API_KEY",
                                 environment: environment, required: true) ?? ""
            return AnthropicProvider(model: model, baseURL: baseURL, apiKey: key, httpClient: httpClient(), options: options)
        }
        registry.register("ollama") { model, settings in
            let host = environment["OLLAMA_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:11434"
            let baseURL = settings.baseURL ?? URLJoin.ollamaBase(host) + "/v1"
            let key = try settings.apiKeyEnv.flatMap {
                try apiKey(provider: "ollama", model: model, variable: $0, environment: environment, required: true)
            }
            return OpenAICompatibleProvider(name: "ollama", model: model, baseURL: baseURL, apiKey: key,
                                            httpClient: httpClient(), options: options)
        }
    }

    private static func apiKey(provider: String, model: String, variable: String, environment: [String: String],
                               required: Bool) throws -> String? {
        if let key = environment[variable], !key.isEmpty { return key }
        guard required else { return nil }
        throw ModelError(provider: provider, model: model,
                         message: "missing API key: set the environment variable \(variable)")
    }
}
