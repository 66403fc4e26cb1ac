extension Duration {
    /// `10`, `0.5`: seconds as people write them.
    var secondsText: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        if seconds.rounded() == seconds { return String(Int64(seconds)) }
        return String((seconds * 1000).rounded() / 1000)
    }
}

/// Sizes as people read them: `10 MiB`, `64 KiB`, `1000 bytes`.
enum ByteCount {
    static func text(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }
}
