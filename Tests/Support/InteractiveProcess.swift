import Foundation

extension OrbiterBinary {
    /// Starts `orbiter args...` with stdin left open, for conversations (`orbiter chat`): write a
    /// line, wait for the reply, write the next.
    public static func startInteractive(_ args: [String], environment: [String: String] = [:]) throws -> Interactive {
        let (running, input) = try launch(args, environment: environment)
        return Interactive(running: running, input: input)
    }

    /// A started process whose stdin stays open until `closeInput()`.
    public final class Interactive: Sendable {
        /// Output so far, waiting, signals and the exit.
        public let running: Running
        private let input: FileHandle

        init(running: Running, input: FileHandle) {
            self.running = running
            self.input = input
        }

        /// Writes `line` and a newline to the process's stdin.
        public func send(_ line: String) {
            input.write(Data((line + "\n").utf8))
        }

        /// Closes stdin (the process sees end of input).
        public func closeInput() {
            try? input.close()
        }
    }
}
