import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// What went wrong before a response head arrived, in words for a person.
enum ConnectProblem: Equatable {
    /// Nothing listens at the address (the server is down or on another port).
    case refused
    /// The host name does not resolve.
    case unresolved(host: String)
    /// The connection was not established within the connect timeout.
    case connectTimeout
    /// Connected, but no response head within the response timeout.
    case noResponse
    /// Anything else, described.
    case other(String)

    init(_ error: any Error) {
        switch error {
        case let e as HTTPClientError where e == .connectTimeout:
            self = .connectTimeout
        case let e as HTTPClientError where e == .deadlineExceeded:
            self = .noResponse
        case let e as NIOConnectionError:
            if e.connectionErrors.contains(where: { Self.isRefused($0.error) }) {
                self = .refused
            } else if e.connectionErrors.isEmpty, e.dnsAError != nil || e.dnsAAAAError != nil {
                self = .unresolved(host: e.host)
            } else if let first = e.connectionErrors.first {
                self = ConnectProblem(first.error)
            } else {
                self = .other(String(describing: e))
            }
        case let e as SocketAddressError.UnknownHost:
            self = .unresolved(host: e.host)
        case let e as ChannelError:
            if case .connectTimeout = e { self = .connectTimeout } else { self = .other(String(describing: e)) }
        default:
            self = Self.isRefused(error) ? .refused : .other(String(describing: error))
        }
    }

    private static func isRefused(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
        return false
    }

    /// Worth another attempt at once: a refused connection may be a server restarting. A host
    /// that does not resolve or a connect timeout would only multiply the wait.
    var retryHere: Bool {
        switch self {
        case .refused, .noResponse, .other: return true
        case .unresolved, .connectTimeout: return false
        }
    }

    func message(url: String, options: HTTPProviderOptions) -> String {
        switch self {
        case .refused: return "cannot connect to \(url): connection refused"
        case .unresolved(let host): return "cannot connect to \(url): host name '\(host)' does not resolve"
        case .connectTimeout: return "cannot connect to \(url): no connection within \(FailureClassifier.seconds(options.connectTimeout)) s"
        case .noResponse: return "no response from \(url) within \(FailureClassifier.seconds(options.responseTimeout)) s"
        case .other(let text): return "cannot connect to \(url): \(text)"
        }
    }
}

/// The HTTP clients providers use by default: one per connect timeout, made on first use and
/// kept for the life of the process. Unlike `HTTPClient.shared`, a failed connection fails the
/// request at once (the provider's own retry policy decides what happens next), redirects are
/// not followed (a key must not follow one to another host), and connecting has its own timeout.
/// And HTTP/1.1 connections per host are not capped at AsyncHTTPClient's default of 8: a worker
/// runs as many model calls at once as its concurrency, and against an HTTP/1.1 endpoint (Ollama,
/// vLLM, a gateway) each streaming call holds a connection for its whole answer, so the 9th call
/// would wait for the 1st to finish (measured: 50 two-second streams took 14.7 s, not 2).
enum ProviderHTTPClient {
    /// Connections kept per host; more are never needed than model calls run at once.
    static let connectionsPerHost = 4096

    private static let clients = Mutex<[Duration: HTTPClient]>([:])

    /// `given`, or the shared client for `options`.
    static func or(_ given: HTTPClient?, _ options: HTTPProviderOptions) -> HTTPClient {
        given ?? shared(connectTimeout: options.connectTimeout)
    }

    static func shared(connectTimeout: Duration) -> HTTPClient {
        clients.withLock { all in
            if let client = all[connectTimeout] { return client }
            var configuration = HTTPClient.Configuration.singletonConfiguration
            configuration.timeout = .init(connect: .nanoseconds(connectTimeout.inNanoseconds), read: nil)
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
            configuration.redirectConfiguration = .disallow
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            all[connectTimeout] = client
            return client
        }
    }
}
