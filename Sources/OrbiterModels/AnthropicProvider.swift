import AsyncHTTPClient
import OrbiterCore

/// A Claude model over Anthropic's Messages API.
public struct AnthropicProvider: ModelProvider {
    /// Where Anthropic's API lives.
    public static let defaultBaseURL = "https://api.anthropic.com"
    /// The API version this adapter speaks.
    public static let apiVersion = "2023-06-01"

    private let url: String
    private let transport: StreamingTransport

    /// - Parameter baseURL: the host root (`https://api.anthropic.com`); `/v1/messages` is appended
    ///   (only `/messages` when the URL already ends in `/v1`).
    public init(model: String, baseURL: String = Self.defaultBaseURL, apiKey: String, httpClient: HTTPClient? = nil,
                options: HTTPProviderOptions = HTTPProviderOptions(), name: String = "anthropic") {
        let base = URLJoin.trimmingTrailingSlash(baseURL)
        url = base.hasSuffix("/v1") ? base + "/messages" : base + "/v1/messages"
        transport = StreamingTransport(provider: name, model: model, client: ProviderHTTPClient.or(httpClient, options), options: options, apiKey: APIKey(apiKey))
    }

    /// Streams one Messages API reply, forwarding text and thinking as they arrive.
    public func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        var headers = [("anthropic-version", Self.apiVersion)]
        if let key = transport.apiKey { headers.append(("x-api-key", key.value)) }
        try await transport.stream(url: url, headers: headers, body: try AnthropicRequestBody.make(request),
                                   decoder: { AnthropicStreamDecoder() }, onEvent: onEvent)
    }
}
