import Foundation

/// Lines of stdin as an async sequence. `readLine()` blocks, so it runs on a thread of its own,
/// never on the cooperative pool; the thread ends at end of input.
enum LineReader {
    static func stdinLines() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let thread = Thread {
            while let line = readLine(strippingNewline: true) {
                continuation.yield(line)
            }
            continuation.finish()
        }
        thread.name = "orbiter.stdin"
        thread.start()
        return stream
    }
}
