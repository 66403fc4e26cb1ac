import Foundation
import Synchronization

/// The terminal the person sits at (`/dev/tty`), for questions that must not be read from the
/// script's input: `echo "refund 30" | orbiter run …` still asks on the terminal, as `sudo` and
/// `ssh` ask for passwords. Reads block, so each runs on a thread of its own (never on the
/// cooperative pool), polling so that a cancelled question gives its thread back at once.
enum ControllingTerminal {
    /// There is no controlling terminal (a service, a pipeline started without one, CI).
    struct Unavailable: Error {}

    /// Writes `prompt` on the terminal and returns the line typed (without its line break), or
    /// `nil` at end of input (Ctrl-D). Throws `Unavailable` when there is no terminal.
    static func ask(_ prompt: String) async throws -> String? {
        let cancelled = Atomic<Bool>(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String?, any Error>) in
                let thread = Thread {
                    continuation.resume(with: Result { try readLine(prompt: prompt, cancelled: cancelled) })
                }
                thread.name = "orbiter.tty"
                thread.start()
            }
        } onCancel: {
            cancelled.store(true, ordering: .relaxed)
        }
    }

    private static func readLine(prompt: String, cancelled: borrowing Atomic<Bool>) throws -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw Unavailable() }
        defer { close(fd) }
        var text = prompt
        text.withUTF8 { buffer in _ = write(fd, buffer.baseAddress, buffer.count) }
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            if cancelled.load(ordering: .relaxed) { throw CancellationError() }
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, 100)
            if polled == 0 || (polled < 0 && errno == EINTR) { continue }
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            line.append(contentsOf: chunk[0..<n])
            if let end = line.firstIndex(of: UInt8(ascii: "\n")) {
                var text = String(decoding: line[..<end], as: UTF8.self)
                if text.hasSuffix("\r") { text.removeLast() }
                return text
            }
        }
    }
}
