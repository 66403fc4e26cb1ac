import OrbiterCore

/// The HTTP access a host grants its scripts (`orbiter.http.request`), under an `HTTPPolicy`.
///
/// With an allow-list, each request and each redirect hop is checked twice: the host against
/// the entries, then every address it resolves to against the special ranges (unless an exact
/// entry names the host). The connection is then pinned to a checked address, so DNS that
/// changes its answer in between cannot redirect it. Redirects are followed here, not by the
/// HTTP stack, so every hop is checked and credentials do not leave their origin.
public struct ToolHTTPClient: HTTPAccess {
    public let policy: HTTPPolicy

    public init(_ policy: HTTPPolicy) {
        self.policy = policy
    }

    public func perform(_ request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?) async throws -> HTTPToolResponse {
        let exchange = HTTPExchange(policy: policy, request: request, isComplete: isComplete,
                                    deadline: .now + request.timeout)
        guard let response = try await withTimeout(request.timeout, { try await exchange.run() }) else {
            throw exchange.hop.error(.timedOut(request.timeout))
        }
        return response
    }
}
