import Foundation
import OrbiterCore

/// Writes to stdout and stderr without buffering, so streamed text appears as it arrives even
/// when piped (Swift 6 refuses the C `stdout` global).
///
/// A closed stdout (`orbiter run … | head -1`, `| true`) ends the process at once and quietly with
/// status 0: whoever reads has all they wanted. SIGPIPE is ignored (`ignoreSIGPIPE`), so a write
/// to a closed pipe fails with EPIPE instead of killing the process. Errors writing to stderr are
/// ignored.
enum Terminal {
    static func out(_ text: String) {
        if !write(text, to: 1) { _exit(0) }
    }

    static func err(_ text: String) {
        _ = write(text, to: 2)
    }

    /// Called first thing: writes to a closed pipe then fail with EPIPE, handled above.
    static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes all of `text`; false when the reader has gone (EPIPE) or the descriptor is unusable.
    private static func write(_ text: String, to fd: Int32) -> Bool {
        var text = text
        return text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && (errno == EINTR || errno == EAGAIN) {
                    if errno == EAGAIN { usleep(1000) }
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// `orbiter: <message>` on stderr.
    static func error(_ message: String) {
        err(message.hasSuffix("\n") ? message : message + "\n")
    }

    /// Whether stderr is a terminal (for colour).
    static let stderrIsTTY = isatty(2) == 1

    static func dim(_ s: String) -> String { stderrIsTTY ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
    static func red(_ s: String) -> String { stderrIsTTY ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func cyan(_ s: String) -> String { stderrIsTTY ? "\u{1B}[36m\(s)\u{1B}[0m" : s }

    /// All of stdin, without the one line break that ends it (`echo text |` sends "text\n"; the
    /// model should see "text"). Refuses (exit status 2) input that is not UTF-8.
    static func readStdin() throws -> String {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard var text = String(validating: data, as: UTF8.self) else {
            let bytes = Array(data)
            let offset = UTF8Text.firstInvalidOffset(bytes) ?? 0
            throw CLIFailure.usage(String(format: "orbiter: the input on stdin is not UTF-8 text (byte 0x%02X at offset %d); convert it first "
                         + "(e.g. iconv -f latin1 -t utf-8)", bytes[offset], offset))
        }
        if text.hasSuffix("\n") || text.hasSuffix("\r\n") { text.removeLast() } // "\r\n" is one Character
        return text
    }
}

/// `write(2)`; at file scope, where `write` is not shadowed by `Terminal.write`.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
