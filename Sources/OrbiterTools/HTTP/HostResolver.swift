import Foundation
import NIOPosix

/// Resolves host names with the system resolver (`getaddrinfo`, as connections would) on NIO's
/// pool for blocking work, so no cooperative thread waits on DNS.
///
/// `getaddrinfo` also reads the odd numeric spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`,
/// `127.1`) and answers with the address they mean, which the policy then checks.
enum HostResolver {
    struct Unresolved: Error {
        var detail: String
    }

    /// The addresses of `host` in the resolver's order (IPv4 and IPv6, no duplicates); an IP
    /// literal is its own answer. A cancelled caller stops waiting at once; the lookup itself
    /// finishes on the pool and its answer is dropped.
    static func addresses(of host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        let answer = PendingAnswer<[IPAddress]>()
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return answer.complete(.failure(CancellationError())) }
            answer.complete(Result { try lookUp(host) })
        }
        return try await answer.value
    }

    /// Blocking: runs on the thread pool only.
    private static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw Unresolved(detail: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node?.pointee {
            node = info.ai_next
            guard let raw = info.ai_addr else { continue }
            let address: IPAddress
            switch info.ai_family {
            case AF_INET:
                let sin = UnsafeRawPointer(raw).loadUnaligned(as: sockaddr_in.self)
                address = IPAddress(bytes: withUnsafeBytes(of: sin.sin_addr) { Array($0) })
            case AF_INET6:
                let sin6 = UnsafeRawPointer(raw).loadUnaligned(as: sockaddr_in6.self)
                address = IPAddress(bytes: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) })
            default:
                continue
            }
            if !addresses.contains(address) { addresses.append(address) }
        }
        guard !addresses.isEmpty else { throw Unresolved(detail: "no IPv4 or IPv6 address") }
        return addresses
    }
}
