/// The address ranges a worker's scripts may not reach unless an operator names the host: loopback,
/// private, link-local (cloud metadata), shared, multicast, reserved and documentation ranges, and
/// IPv6 forms that carry an IPv4 address inside (judged by that IPv4 address).
///
/// A script on a worker runs code anyone who can write to its Redis can send; these ranges are
/// where the worker's own services, its network's and its cloud's live.
enum SpecialAddresses {
    /// Why `address` is refused ("a loopback address"), or nil for a public address.
    static func reason(for address: IPAddress) -> String? {
        address.family == .v4 ? v4Reason(address.bytes) : v6Reason(address.bytes)
    }

    private struct Range {
        let prefix: [UInt8]
        let bits: Int
        let reason: String

        func contains(_ bytes: [UInt8]) -> Bool {
            guard bytes.count * 8 >= bits else { return false }
            var remaining = bits
            for (index, byte) in prefix.enumerated() where remaining > 0 {
                let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
                if bytes[index] & mask != byte & mask { return false }
                remaining -= 8
            }
            return true
        }
    }

    private static let v4Ranges: [Range] = [
        Range(prefix: [0], bits: 8, reason: "a 'this network' address (it reaches this machine)"),
        Range(prefix: [10], bits: 8, reason: "a private address"),
        Range(prefix: [100, 64], bits: 10, reason: "a shared (carrier-grade NAT) address (some clouds' metadata services live there)"),
        Range(prefix: [127], bits: 8, reason: "a loopback address"),
        Range(prefix: [169, 254], bits: 16, reason: "a link-local address (metadata services live there)"),
        Range(prefix: [172, 16], bits: 12, reason: "a private address"),
        Range(prefix: [192, 0, 0], bits: 24, reason: "a protocol-assignment address"),
        Range(prefix: [192, 0, 2], bits: 24, reason: "a documentation address"),
        Range(prefix: [192, 88, 99], bits: 24, reason: "a 6to4 relay address"),
        Range(prefix: [192, 168], bits: 16, reason: "a private address"),
        Range(prefix: [198, 18], bits: 15, reason: "a benchmarking address"),
        Range(prefix: [198, 51, 100], bits: 24, reason: "a documentation address"),
        Range(prefix: [203, 0, 113], bits: 24, reason: "a documentation address"),
        Range(prefix: [224], bits: 4, reason: "a multicast address"),
        Range(prefix: [240], bits: 4, reason: "a reserved address"),
    ]

    private static func v4Reason(_ bytes: [UInt8]) -> String? {
        v4Ranges.first { $0.contains(bytes) }?.reason
    }

    private static let v6Ranges: [Range] = [
        Range(prefix: [0x01, 0x00, 0, 0, 0, 0, 0, 0], bits: 64, reason: "a discard-only address"),
        Range(prefix: [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], bits: 48, reason: "a local NAT64 address"),
        Range(prefix: [0x20, 0x01, 0x0d, 0xb8], bits: 32, reason: "a documentation address"),
        Range(prefix: [0x20, 0x01, 0x00, 0x00], bits: 32, reason: "a Teredo tunnel address"),
        Range(prefix: [0xfc], bits: 7, reason: "a private (unique local) address (AWS's IPv6 metadata service lives there)"),
        Range(prefix: [0xfe, 0x80], bits: 10, reason: "a link-local address (metadata services live there)"),
        Range(prefix: [0xfe, 0xc0], bits: 10, reason: "a site-local address"),
        Range(prefix: [0xff], bits: 8, reason: "a multicast address"),
    ]

    private static func v6Reason(_ bytes: [UInt8]) -> String? {
        let zeros = [UInt8](repeating: 0, count: 16)
        if bytes == zeros { return "the unspecified address (it reaches this machine)" }
        if bytes == Array(zeros.dropLast()) + [1] { return "a loopback address" }
        if let (v4, form) = embeddedIPv4(bytes) {
            guard let inner = v4Reason(v4.bytes) else { return nil }
            return "\(form) of \(v4), \(inner)"
        }
        if bytes.prefix(12).allSatisfy({ $0 == 0 }) { return "an IPv4-compatible address (deprecated)" }
        return v6Ranges.first { $0.contains(bytes) }?.reason
    }

    /// The IPv4 address an IPv6 address stands for, and the name of the form: IPv4-mapped
    /// (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
    private static func embeddedIPv4(_ bytes: [UInt8]) -> (IPAddress, String)? {
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return (IPAddress(bytes: Array(bytes[12..<16])), "an IPv4-mapped form")
        }
        if bytes.prefix(12).elementsEqual([0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]) {
            return (IPAddress(bytes: Array(bytes[12..<16])), "a NAT64 form")
        }
        if bytes[0] == 0x20, bytes[1] == 0x02 {
            return (IPAddress(bytes: Array(bytes[2..<6])), "a 6to4 form")
        }
        return nil
    }
}
