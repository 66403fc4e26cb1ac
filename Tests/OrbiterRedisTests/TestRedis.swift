import Foundation
import Testing
@testable import OrbiterRedis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thrown after recording an issue when the shared test server is not configured.
struct MissingTestRedis: Error, CustomStringConvertible {
    var description: String {
        "ORBITER_TEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts a private redis-server and exports it"
    }
}

/// The shared test server. Fails (never skips) when `ORBITER_TEST_REDIS_URL` is unset.
func sharedRedisURL() throws -> RedisURL {
    guard let s = ProcessInfo.processInfo.environment["ORBITER_TEST_REDIS_URL"], !s.isEmpty else {
        throw MissingTestRedis()
    }
    return try RedisURL(s)
}

/// A connected client on the shared test server.
func sharedClient() async throws -> RedisClient {
    let client = RedisClient(url: try sharedRedisURL())
    try await client.connect()
    return client
}

/// A key no other test (or run) uses.
func uniqueKey(_ label: String = #function) -> String {
    "orbiter-redis-test:\(label.prefix(while: { $0 != "(" })):\(UUID().uuidString)"
}

/// A TCP port nothing listens on right now (asked from the kernel, then released).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            _ = bind(fd, sa, len)
            _ = getsockname(fd, sa, &len)
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// A redis-server process of the test's own (for AUTH, restarts, SCRIPT FLUSH, Unix sockets),
/// so nothing disturbs the shared server other suites use.
final class PrivateRedis: @unchecked Sendable {
    let port: Int
    let extraArguments: [String]
    let unixSocket: String
    private var process: Process?

    init(_ extraArguments: [String] = []) throws {
        port = freePort()
        unixSocket = NSTemporaryDirectory() + "orbiter-redis-\(getpid())-\(port).sock"
        self.extraArguments = extraArguments
        try start()
    }

    deinit { stop() }

    /// `redis://127.0.0.1:port` with optional credentials.
    func url(user: String? = nil, password: String? = nil, db: Int = 0) throws -> RedisURL {
        var u = try RedisURL("redis://127.0.0.1:\(port)")
        u.username = user
        u.password = password
        u.database = db
        return u
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        p.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--dir", NSTemporaryDirectory(), "--unixsocket", unixSocket, "--unixsocketperm", "700"]
            + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(5)
        // The Unix socket appears a moment after the TCP port: wait for both.
        while !isListening(port) || !FileManager.default.fileExists(atPath: unixSocket) {
            guard ContinuousClock.now < deadline, p.isRunning else {
                throw RedisError.connection("private redis-server on port \(port) did not start")
            }
            usleep(10_000)
        }
    }

    func stop() {
        guard let p = process else { return }
        process = nil
        // SIGKILL, not terminate(): children spawned from the test runner's threads inherit a signal
        // mask that blocks SIGTERM, so redis-server would never see it (measured).
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }
}

/// Seconds elapsed since `start`.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
