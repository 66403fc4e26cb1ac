import Foundation

/// A TCP socket on 127.0.0.1 that listens but never accepts: the kernel completes connections
/// and takes what is sent, and nothing ever answers. For connect and response timeouts.
public final class SilentListener: @unchecked Sendable {
    private let fd: Int32
    /// The port it listens on (chosen by the system).
    public let port: Int

    public init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                _ = bind(fd, sa, len)
                _ = listen(fd, 16)
                _ = getsockname(fd, sa, &len)
            }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}
