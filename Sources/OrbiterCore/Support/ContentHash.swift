import Crypto
import Foundation

/// SHA-256 content addresses (script bundles, idempotency keys), computed by swift-crypto.
public enum ContentHash {
    /// The SHA-256 of a string's UTF-8, as 64 lowercase hex digits.
    public static func sha256Hex(_ text: String) -> String { Crypto.SHA256.hash(data: Array(text.utf8)).hexString }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex digits. Inlinable, so callers in other modules get a specialised copy.
    @inlinable
    public var hexString: String {
        @inline(__always) func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for b in self { out.append(digit(b >> 4)); out.append(digit(b & 0x0f)) }
        return String(decoding: out, as: UTF8.self)
    }
}
