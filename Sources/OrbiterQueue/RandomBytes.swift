import Foundation
import Synchronization

/// Random bytes from the kernel's CSPRNG (`/dev/urandom`), read 4 KiB at a time: every submit
/// makes a task id and a span id, and a `getrandom` call per 8 bytes showed up in client profiles.
package enum RandomBytes {
    private static let pool = Mutex<(bytes: [UInt8], used: Int)>(([], 0))

    package static func take(_ count: Int) -> [UInt8] {
        pool.withLock { pool in
            if pool.used + count > pool.bytes.count {
                pool.bytes = refill(atLeast: count)
                pool.used = 0
            }
            defer { pool.used += count }
            return Array(pool.bytes[pool.used..<pool.used + count])
        }
    }

    private static func refill(atLeast count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(4096, count))
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var filled = 0
            while filled < bytes.count {
                let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
                if n > 0 { filled += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
            if filled == bytes.count { return bytes }
        }
        // No /dev/urandom (a chroot?): the system generator, 8 bytes a call.
        var generator = SystemRandomNumberGenerator()
        for i in stride(from: 0, to: bytes.count, by: 8) {
            var word = generator.next() as UInt64
            for j in i..<min(i + 8, bytes.count) { bytes[j] = UInt8(truncatingIfNeeded: word); word >>= 8 }
        }
        return bytes
    }
}
