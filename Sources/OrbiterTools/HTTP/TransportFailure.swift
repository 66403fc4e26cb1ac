import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// What the HTTP stack threw, as a cause a person reads.
enum TransportFailure {
    static func cause(of error: any Error) -> HTTPToolError.Cause {
        switch error {
        case let e as HTTPClientError:
            return cause(of: e)
        case let e as NIOConnectionError:
            if let first = e.connectionErrors.first { return cause(of: first.error) }
            if e.dnsAError != nil || e.dnsAAAAError != nil { return .unresolvedHost(e.host) }
            return .transport("could not connect to \(e.host)")
        case let e as SocketAddressError.UnknownHost:
            return .unresolvedHost(e.host)
        case let e as IOError:
            return cause(errno: e.errnoCode) ?? .transport(e.description)
        case let e as ChannelError:
            if case .connectTimeout = e { return .transport("could not connect in time") }
            return .transport("connection failed: \(e)")
        default:
            // NIOSSL is not a dependency of ours; its errors are recognised by their type's name.
            if String(reflecting: type(of: error)).contains("NIOSSL") || String(reflecting: type(of: error)).contains("BoringSSL") {
                return .tlsHandshakeFailed(String(describing: error))
            }
            return .transport(String(describing: error))
        }
    }

    /// Whether another address of the same host might succeed where this one could not connect.
    static func isConnectFailure(_ error: any Error) -> Bool {
        switch error {
        case let e as HTTPClientError: return e == .connectTimeout
        case is NIOConnectionError: return true
        case let e as IOError: return [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT].contains(e.errnoCode)
        case let e as ChannelError: if case .connectTimeout = e { return true } else { return false }
        default: return false
        }
    }

    private static func cause(of error: HTTPClientError) -> HTTPToolError.Cause {
        switch error {
        case .connectTimeout: return .transport("could not connect in time")
        case .tlsHandshakeTimeout: return .tlsHandshakeFailed("no answer in time")
        case .remoteConnectionClosed: return .transport("the server closed the connection before the response was complete")
        case .invalidURL, .emptyHost, .emptyScheme: return .invalidRequest("not a valid URL")
        case .bodyLengthMismatch: return .transport("the body's length does not match its content-length")
        default:
            return .transport(error.description)
        }
    }

    private static func cause(errno code: Int32) -> HTTPToolError.Cause? {
        switch code {
        case ECONNREFUSED: return .connectionRefused
        case ECONNRESET: return .transport("connection reset by the server")
        case ENETUNREACH: return .transport("network unreachable")
        case EHOSTUNREACH: return .transport("host unreachable")
        case ETIMEDOUT: return .transport("could not connect in time")
        default: return nil
        }
    }
}
