import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy in front of the test Redis that can lose one reply: once armed with a marker, the
/// first request that carries it reaches Redis (so it takes effect), but its connection is cut
/// before the reply comes back — the "lost reply" a client must retry without doing twice.
final class ReplyDroppingProxy: @unchecked Sendable {
    private let listener: Int32
    private let targetPort: UInt16
    let port: UInt16
    private let lock = NSLock()
    private var marker: [UInt8]?
    private var droppedCount = 0
    private var closed = false

    /// Listens on a free loopback port and forwards to the Redis at `redisURL` (redis://host:port).
    init(redisURL: String) throws {
        guard let target = URLComponents(string: redisURL)?.port else { throw ProxyError("no port in \(redisURL)") }
        targetPort = UInt16(target)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw ProxyError("cannot listen: errno \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = UInt16(bigEndian: addr.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// The next request containing `text` is delivered, and its reply lost.
    func arm(_ text: String) { lock.withLock { marker = Array(text.utf8) } }

    /// Replies lost so far.
    var dropped: Int { lock.withLock { droppedCount } }

    func close() {
        lock.withLock { closed = true }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { if lock.withLock({ closed }) { return } else { continue } }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: targetPort)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { Glibc.close(client); Glibc.close(server); continue }
            let link = Link(client: client, server: server)
            Thread { [self] in pump(link, upstream: true) }.start()
            Thread { [self] in pump(link, upstream: false) }.start()
        }
    }

    /// One proxied connection; `cutBeforeReply` is set once a marked request went upstream.
    private final class Link: @unchecked Sendable {
        let client: Int32, server: Int32
        let lock = NSLock()
        var cutBeforeReply = false
        var down = false
        var pumpsDone = 0
        init(client: Int32, server: Int32) { self.client = client; self.server = server }
        func cut() {
            lock.withLock {
                guard !down else { return }
                down = true
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
            }
        }
    }

    private func pump(_ link: Link, upstream: Bool) {
        let from = upstream ? link.client : link.server, to = upstream ? link.server : link.client
        var buffer = [UInt8](repeating: 0, count: 65536)
        pumping: while true {
            let n = read(from, &buffer, buffer.count)
            if n <= 0 { break }
            let chunk = Array(buffer[0..<n])
            if upstream {
                let hit = lock.withLock { () -> Bool in
                    guard let m = marker, contains(chunk, m) else { return false }
                    marker = nil
                    return true
                }
                if hit { link.lock.withLock { link.cutBeforeReply = true } }
            } else if link.lock.withLock({ link.cutBeforeReply }) {
                lock.withLock { droppedCount += 1 }
                break
            }
            var sent = 0
            while sent < n {
                let w = chunk.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                if w <= 0 { break pumping }
                sent += w
            }
        }
        link.cut()
        // The second pump to end closes both sockets (never one the other pump still uses).
        let last = link.lock.withLock { () -> Bool in link.pumpsDone += 1; return link.pumpsDone == 2 }
        if last { Glibc.close(link.client); Glibc.close(link.server) }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return true }
        }
        return false
    }
}

struct ProxyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
