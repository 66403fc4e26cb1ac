import Foundation

/// A value that can be sent as one Redis command argument (a binary-safe bulk string).
public protocol RedisArgument {
    /// The exact bytes Redis receives for this argument.
    var redisBytes: [UInt8] { get }
    /// Appends `redisBytes` to a command buffer; conformers override it to skip the temporary array.
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: redisBytes) }
}

extension String: RedisArgument {
    /// UTF-8 bytes.
    public var redisBytes: [UInt8] { Array(utf8) }
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgument {
    /// UTF-8 bytes.
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Int: RedisArgument {
    /// Decimal text, as Redis parses integers.
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: String(self).utf8) }
}

extension Int64: RedisArgument {
    /// Decimal text, as Redis parses integers.
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Double: RedisArgument {
    /// Shortest round-tripping decimal text; `inf`/`-inf` are understood by Redis (e.g. ZADD).
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    /// Raw bytes, sent as they are.
    public var redisBytes: [UInt8] { self }
}

extension Data: RedisArgument {
    /// Raw bytes, sent as they are (handy for JSON payloads).
    public var redisBytes: [UInt8] { Array(self) }
}

/// One command flattened for `redisAppendCommandArgv`: all argument bytes back to back plus lengths.
struct EncodedCommand: Sendable {
    /// Argument bytes, concatenated, followed by one spare byte so the buffer is never empty.
    var bytes: [UInt8]
    /// Length of each argument in `bytes`.
    var lengths: [Int]

    init(_ args: [any RedisArgument]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        var lengths: [Int] = []
        lengths.reserveCapacity(args.count)
        for arg in args {
            let before = bytes.count
            arg.appendRedisBytes(to: &bytes)
            lengths.append(bytes.count - before)
        }
        bytes.append(0)
        self.bytes = bytes
        self.lengths = lengths
    }

    /// The command name for error messages (never the arguments, which may hold secrets).
    var name: String {
        guard let first = lengths.first else { return "" }
        return String(decoding: bytes[0..<first], as: UTF8.self)
    }
}
