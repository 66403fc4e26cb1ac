/// Redis Cluster's key → slot function: CRC16 (XMODEM) of the key, or of its hash tag (the text
/// between the first `{` and the next `}` when that is not empty), modulo 16384.
public enum HashSlot {
    /// Number of slots in a Redis Cluster.
    public static let count = 16384

    /// The slot of `key`'s bytes.
    public static func of<C: Collection>(_ key: C) -> Int where C.Element == UInt8 {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) & 0x3FFF)
        }
        return Int(crc16(bytes[...]) & 0x3FFF)
    }

    /// The slot of a string key.
    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte)) & 0xFF]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }
}
