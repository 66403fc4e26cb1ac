import ArgumentParser
import Foundation
import Logging
import OrbiterCore
import Synchronization

/// `--log-level` and `--log-format`, for commands that log.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .customLong("log-format"), help: "text, or json (one object a line).")
    var logFormat: LogFormat = .text

    /// A logger writing to stderr in the chosen format.
    func logger(label: String) -> Logger {
        let format = logFormat, level = logLevel
        var logger = Logger(label: label) { label in StderrLogHandler(label: label, format: format) }
        logger.logLevel = level
        return logger
    }
}

extension Logger {
    /// The logger of what a local run starts (MCP servers): warnings and worse, on stderr.
    static func localRun(label: String) -> Logger {
        var logger = Logger(label: label) { label in StderrLogHandler(label: label, format: .text) }
        logger.logLevel = .warning
        return logger
    }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Log lines on their way to stderr. Lines below `warning` are gathered and written together at
/// least every 20 ms (a busy worker logs thousands of lines a second, and a `write(2)` each was
/// 4 % of its CPU); a warning or worse is written at once, after everything before it, and the
/// buffer is flushed when the process exits. A line is never split, so lines never interleave.
enum StderrLog {
    private static let buffer = Mutex<[UInt8]>([])
    private static let flusher: Void = {
        let thread = Thread {
            while true {
                usleep(20_000)
                StderrLog.flush()
            }
        }
        thread.name = "orbiter-log-flush"
        thread.start()
        atexit { StderrLog.flush() }
    }()

    static func write(_ line: String, immediately: Bool) {
        _ = flusher
        buffer.withLock { pending in
            pending.append(contentsOf: line.utf8)
            pending.append(UInt8(ascii: "\n"))
            if immediately || pending.count >= 64 * 1024 { writeAll(&pending) }
        }
    }

    static func flush() {
        buffer.withLock { pending in if !pending.isEmpty { writeAll(&pending) } }
    }

    /// Called with the lock held, so buffered lines keep their order.
    private static func writeAll(_ pending: inout [UInt8]) {
        pending.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
        pending.removeAll(keepingCapacity: true)
    }
}

/// `2026-11-29T06:05:50.295Z`, built by hand: Foundation's ISO 8601 formatters go through ICU
/// and showed up in worker profiles at a fifth of the CPU per task.
private func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var t = tm()
    gmtime_r(&seconds, &t)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(24)
    func digits(_ value: Int, _ width: Int, then separator: UInt8?) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 { bytes.append(UInt8(ascii: "0") + UInt8((v / divisor) % 10)); v %= divisor; divisor /= 10 }
        if let separator { bytes.append(separator) }
    }
    digits(Int(t.tm_year) + 1900, 4, then: UInt8(ascii: "-"))
    digits(Int(t.tm_mon) + 1, 2, then: UInt8(ascii: "-"))
    digits(Int(t.tm_mday), 2, then: UInt8(ascii: "T"))
    digits(Int(t.tm_hour), 2, then: UInt8(ascii: ":"))
    digits(Int(t.tm_min), 2, then: UInt8(ascii: ":"))
    digits(Int(t.tm_sec), 2, then: UInt8(ascii: "."))
    digits(now.tv_nsec / 1_000_000, 3, then: UInt8(ascii: "Z"))
    return String(decoding: bytes, as: UTF8.self)
}

private func flatten(_ value: Logger.MetadataValue) -> JSONValue {
    switch value {
    case .string(let s): .string(s)
    case .stringConvertible(let c): Int("\(c)").map(JSONValue.int) ?? .string("\(c)")
    case .array(let a): .array(a.map(flatten))
    case .dictionary(let d): .object(d.mapValues(flatten))
    }
}

/// Writes each log line to stderr in one write:
/// - text: `2025-01-01T12:00:00.000Z info worker started task_id=… worker_id=…`;
/// - json: one object a line, `timestamp`, `level`, `message`, `logger`, then the metadata as
///   top-level keys (`task_id`, `worker_id`, `agent`, `trace_id`, …).
struct StderrLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.isEmpty ? event.metadata ?? [:] : metadata.merging(event.metadata ?? [:]) { $1 }
        switch format {
        case .text:
            var line = timestamp()
            line += " "
            line += event.level.rawValue
            line += " "
            line += event.message.description
            for key in all.keys.sorted() {
                line += " "
                line += key
                line += "="
                line += all[key]!.description
            }
            StderrLog.write(line, immediately: event.level >= .warning)
        case .json:
            var object = all.mapValues(flatten)
            object["timestamp"] = .string(timestamp())
            object["level"] = .string(event.level.rawValue)
            object["message"] = .string("\(event.message)")
            object["logger"] = .string(label)
            StderrLog.write(JSONValue.object(object).jsonString, immediately: event.level >= .warning)
        }
    }
}
