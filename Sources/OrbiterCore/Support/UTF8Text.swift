/// Finding where bytes stop being UTF-8, so a refusal can point at the byte instead of showing
/// U+FFFD where the user's text was.
public enum UTF8Text {
    /// Offset of the first byte that does not start a valid UTF-8 sequence, or `nil` when all is valid.
    public static func firstInvalidOffset<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int? where Bytes.Index == Int {
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0
            guard length > 0, i + length <= bytes.endIndex,
                  String(validating: bytes[i..<(i + length)], as: UTF8.self) != nil else { return i - bytes.startIndex }
            i += length
        }
        return nil
    }
}
