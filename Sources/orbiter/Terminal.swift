import Foundation

/// Writes to stdout and stderr without buffering, so streamed text appears as it arrives even
/// when piped (Swift 6 refuses the C `stdout` global).
enum Terminal {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// `orbiter: <message>` on stderr.
    static func error(_ message: String) {
        err(message.hasSuffix("\n") ? message : message + "\n")
    }

    /// Whether stderr is a terminal (for colour).
    static let stderrIsTTY = isatty(2) == 1

    static func dim(_ s: String) -> String { stderrIsTTY ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
    static func red(_ s: String) -> String { stderrIsTTY ? "\u{1B}[31m\(s)\u{1B}[0m" : s }

    /// Reads all of stdin as UTF-8.
    static func readStdin() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
}
