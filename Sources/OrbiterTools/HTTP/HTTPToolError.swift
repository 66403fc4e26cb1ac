/// Why a tool's HTTP request failed: `POST https://api.example.com/v1/x: connection refused`.
///
/// The URL is shown without its query, fragment or credentials (queries often carry keys).
/// An HTTP error status is not a failure; this is for everything that kept a response from
/// arriving whole.
public struct HTTPToolError: Error, Sendable, CustomStringConvertible {
    public enum Cause: Error, Sendable, Equatable, CustomStringConvertible {
        /// The host's policy does not allow this host or address; the text says why and how to allow it.
        case refusedByPolicy(String)
        case connectionRefused
        case unresolvedHost(String)
        case tlsHandshakeFailed(String)
        /// The whole exchange, redirects included, took longer than the request's timeout.
        case timedOut(Duration)
        /// More redirects than the request allows (the number allowed).
        case tooManyRedirects(Int)
        /// The body is larger than the request's `maxBytes` (the cap).
        case bodyTooLarge(Int)
        /// The request cannot be sent as written (URL, method, header).
        case invalidRequest(String)
        /// Any other transport failure, described.
        case transport(String)

        public var description: String {
            switch self {
            case .refusedByPolicy(let why): return "refused by this worker's policy: \(why)"
            case .connectionRefused: return "connection refused"
            case .unresolvedHost(let host): return "could not resolve host \(host)"
            case .tlsHandshakeFailed(let detail): return "TLS handshake failed: \(detail)"
            case .timedOut(let timeout): return "timed out after \(timeout.secondsText) s"
            case .tooManyRedirects(let max): return "too many redirects (more than \(max))"
            case .bodyTooLarge(let max): return "response body is larger than \(ByteCount.text(max)) (max_bytes)"
            case .invalidRequest(let why): return why
            case .transport(let detail): return detail
            }
        }
    }

    /// `GET`, `POST`, … as the failing request (or redirect hop) was sent.
    public var method: String
    /// The URL of the failing request or redirect hop, without query, fragment or credentials.
    public var url: String
    public var cause: Cause

    public init(method: String, url: String, cause: Cause) {
        self.method = method
        self.url = URLText.shown(url)
        self.cause = cause
    }

    public var description: String { "\(method) \(url): \(cause)" }
}
