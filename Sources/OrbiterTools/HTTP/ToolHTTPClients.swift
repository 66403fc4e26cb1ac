import AsyncHTTPClient
import NIOCore
import Synchronization

/// The process-wide HTTP clients behind `ToolHTTPClient`: one that connects where URLs say
/// (trusted runs, IP literals), and a small LRU of clients pinned to one checked address each.
///
/// None follows redirects (the tool client does, checking each hop), retries a failed
/// connection, or decompresses (the body arrives as the server sent it). Like
/// `HTTPClient.shared` they live for the whole process; an evicted pinned client is shut down
/// once no request uses it.
enum ToolHTTPClients {
    /// Connects where the URL says; resolution, if any, is the client's.
    static let direct = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration())

    /// Clients that connect `host` to one address the policy checked.
    static let pinned = PinnedClients(capacity: 32)

    static func configuration() -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil),
            connectionPool: .init(idleTimeout: .seconds(60)),
            decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }
}

/// HTTP clients that resolve one host name to one address, whatever DNS says by the time they
/// connect (`dnsOverride`), so that a name re-pointed between the policy's check and the
/// connection (DNS rebinding) still reaches the checked address. TLS still uses the name for
/// SNI and certificate checks.
///
/// Each connection is also checked when it is made: one that ended up anywhere else is closed
/// before a request is written.
final class PinnedClients: Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        var address: IPAddress
    }

    private struct Entry {
        var client: HTTPClient
        var users: Int
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var tick: UInt64 = 0
    }

    /// Unused clients beyond this many are shut down, least recently used first.
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    deinit {
        for entry in state.withLock({ $0.entries.values }) { _ = entry.client.shutdown() }
    }

    /// Runs `body` with the client for `key`, kept open until `body` returns.
    func withClient<T>(for key: Key, _ body: (HTTPClient) async throws -> T) async throws -> T {
        let client = checkOut(key)
        defer { checkIn(key) }
        return try await body(client)
    }

    /// How many clients are open (for tests).
    var count: Int { state.withLock { $0.entries.count } }

    private func checkOut(_ key: Key) -> HTTPClient {
        let (client, evicted): (HTTPClient, [HTTPClient]) = state.withLock { state in
            state.tick += 1
            if var entry = state.entries[key] {
                entry.users += 1
                entry.lastUse = state.tick
                state.entries[key] = entry
                return (entry.client, [])
            }
            let client = Self.makeClient(for: key)
            state.entries[key] = Entry(client: client, users: 1, lastUse: state.tick)
            return (client, evictIdle(&state))
        }
        for old in evicted { shutDown(old) }
        return client
    }

    private func checkIn(_ key: Key) {
        let evicted: [HTTPClient] = state.withLock { state in
            state.entries[key]?.users -= 1
            return evictIdle(&state)
        }
        for old in evicted { shutDown(old) }
    }

    /// Removes unused clients, oldest first, while there are more than `capacity`.
    private func evictIdle(_ state: inout State) -> [HTTPClient] {
        var evicted: [HTTPClient] = []
        let idle = state.entries.filter { $0.value.users == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }
        for (key, entry) in idle where state.entries.count > capacity {
            state.entries[key] = nil
            evicted.append(entry.client)
        }
        return evicted
    }

    /// Shutting down only closes idle connections (no request uses this client); AHC finishes
    /// it on its own loop, nothing waits for it.
    private func shutDown(_ client: HTTPClient) {
        _ = client.shutdown()
    }

    private static func makeClient(for key: Key) -> HTTPClient {
        var configuration = ToolHTTPClients.configuration()
        configuration.dnsOverride = [key.host: key.address.description]
        let verify: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            let remote = channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
            guard remote == key.address else {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(PinnedAddressMismatch(expected: key.address, actual: remote))
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        configuration.http1_1ConnectionDebugInitializer = verify
        configuration.http2ConnectionDebugInitializer = verify
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

/// A pinned connection reached another address than the one checked (should never happen).
struct PinnedAddressMismatch: Error, CustomStringConvertible {
    var expected: IPAddress
    var actual: IPAddress?
    var description: String { "the connection reached \(actual?.description ?? "an unknown address"), not the checked address \(expected)" }
}
