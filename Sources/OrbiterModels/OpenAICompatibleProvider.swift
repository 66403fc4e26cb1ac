import AsyncHTTPClient
import OrbiterCore

/// A model behind the OpenAI Chat Completions protocol: OpenAI itself, Ollama, vLLM, LM Studio,
/// OpenRouter, llama.cpp and the many servers that copied the protocol.
public struct OpenAICompatibleProvider: ModelProvider {
    /// Where OpenAI's own API lives.
    public static let defaultBaseURL = "https://api.openai.com/v1"

    private let baseURL: String
    private let transport: StreamingTransport
    /// The name used in errors and refusals (`openai`, `ollama`, …).
    private let name: String

    /// - Parameters:
    ///   - name: the provider name used in errors (`openai`, `ollama`, …).
    ///   - baseURL: up to and including `/v1`; `/chat/completions` is appended.
    ///   - apiKey: sent as a bearer token; nil for servers that need none.
    public init(name: String, model: String, baseURL: String, apiKey: String?, httpClient: HTTPClient? = nil,
                options: HTTPProviderOptions = HTTPProviderOptions()) {
        self.baseURL = URLJoin.trimmingTrailingSlash(baseURL)
        self.name = name
        transport = StreamingTransport(provider: name, model: model, client: ProviderHTTPClient.or(httpClient, options), options: options, apiKey: APIKey(apiKey))
    }

    /// Streams one Chat Completions reply, forwarding text and reasoning as they arrive.
    public func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        var headers: [(String, String)] = []
        if let key = transport.apiKey { headers.append(("authorization", "Bearer \(key.value)")) }
        let isOpenAI = baseURL.hasPrefix(Self.defaultBaseURL)
        let body = try OpenAIRequestBody.make(request, maxTokensField: isOpenAI ? "max_completion_tokens" : "max_tokens", provider: name)
        try await transport.stream(url: baseURL + "/chat/completions", headers: headers, body: body,
                                   decoder: { OpenAIStreamDecoder() }, onEvent: onEvent)
    }
}
