/// A RESP2 reply, copied out of hiredis so it can cross threads and outlive the C object.
public enum RedisReply: Sendable, Hashable {
    /// A simple string such as `OK` or `PONG`.
    case status(String)
    /// An error reply; `RedisClient.send` throws these as `RedisError.server`, pipelines keep them inline.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A binary-safe bulk string.
    case bulk([UInt8])
    /// A nil bulk string or nil array (missing key, timed-out `BLPOP`...).
    case null
    /// A multi-bulk reply.
    indirect case array([RedisReply])

    /// The bulk or status payload as UTF-8 text; nil for other kinds or for bytes that are not valid UTF-8.
    public var string: String? {
        switch self {
        case .status(let s): return s
        case .bulk(let b): return Self.text(b)
        default: return nil
        }
    }

    /// The integer, or a bulk/status that spells an integer (Redis often returns numbers as strings).
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .status(let s): return Int64(s)
        case .bulk(let b): return Self.text(b).flatMap { Int64($0) }
        default: return nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// True for the nil reply, so callers need not pattern-match for "missing".
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RedisReply {
    /// Strict UTF-8 decoding (nil on invalid bytes) without the generic `String(validating:)`,
    /// which is several times slower: every reply a worker reads goes through here.
    static func text(_ bytes: [UInt8]) -> String? {
        let decoded = String(decoding: bytes, as: UTF8.self)
        if bytes.contains(where: { $0 >= 0x80 }), !decoded.utf8.elementsEqual(bytes) { return nil }
        return decoded
    }
}
