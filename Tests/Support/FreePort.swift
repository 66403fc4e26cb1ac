import Foundation

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it, then it is
/// released), for private servers and for connections that must be refused.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0 else { throw TestFailure("cannot find a free port") }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether nothing listens on 127.0.0.1:`port` right now (binding it succeeds).
public func portIsFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let len = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
}

/// A free port whose cluster bus port (port + 10000) is free too, for cluster-enabled servers
/// (the kernel's ephemeral ports are often above 55535, where the bus port cannot exist).
public func freeClusterPort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<45_000)
        if portIsFree(port) && portIsFree(port + 10_000) { return port }
    }
    throw TestFailure("cannot find a free port pair for a cluster node")
}
