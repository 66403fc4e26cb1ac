/// An HTTP request a tool makes (`orbiter.http.request`), before the host's policy has seen it.
public struct HTTPToolRequest: Sendable {
    public var method: String
    public var url: String
    /// Header names as the script wrote them; the host sends them as given.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// For the whole exchange, redirects included.
    public var timeout: Duration
    /// The largest response body accepted; a larger one fails the request.
    public var maxBytes: Int
    /// Redirects followed (each one checked against the policy again); one more fails the request.
    public var maxRedirects: Int

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeout: Duration = .seconds(30), maxBytes: Int = 10 << 20, maxRedirects: Int = 5) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.maxRedirects = maxRedirects
    }
}

/// What came back. An HTTP error status is a response, not a failure: the tool decides.
public struct HTTPToolResponse: Sendable {
    public var status: Int
    /// Lower-case names; repeated headers joined with ", " (set-cookie with "\n").
    public var headers: [String: String]
    public var body: [UInt8]
    /// The URL that answered, after redirects (without its query).
    public var url: String

    public init(status: Int, headers: [String: String], body: [UInt8], url: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
    }
}

/// The way out to the network that a host grants its scripts.
///
/// A worker's implementation refuses hosts outside its allow-list and private, loopback,
/// link-local and metadata addresses (after DNS resolution and on every redirect); a local run's
/// allows any host. Transport failures (refused, DNS, TLS, timeout, policy, size cap) throw an
/// error whose description names the URL without its query and the cause.
public protocol HTTPAccess: Sendable {
    /// Sends `request`. `isComplete` sees the body read so far after each piece arrives; when it
    /// returns true the rest is not awaited (for streams that stay open, such as an MCP server's
    /// SSE answer). Cancelling the calling task cancels the request.
    func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse
}

extension HTTPAccess {
    public func perform(_ request: HTTPToolRequest) async throws -> HTTPToolResponse {
        try await perform(request, isComplete: nil)
    }
}
