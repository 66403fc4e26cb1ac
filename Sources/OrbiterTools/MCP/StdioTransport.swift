import Foundation
import Logging
import OrbiterCore
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Messages to a stdio server: queued as lines and written to its stdin by one writer, in order.
struct StdioChannel: MCPChannel {
    let server: String
    let lines: AsyncStream<[UInt8]>.Continuation

    func send(_ message: JSONRPCMessage, timeout: Duration) async throws -> [JSONRPCMessage] {
        guard case .enqueued = lines.yield(Array((message.text + "\n").utf8)) else {
            throw MCPError("MCP server '\(server)' is not running")
        }
        return []
    }

    func post(_ message: JSONRPCMessage) {
        lines.yield(Array((message.text + "\n").utf8))
    }
}

/// A stdio MCP server process: newline-delimited JSON-RPC on its stdin and stdout, stderr lines
/// to the log. One process is one session; `run` returns when it has ended.
struct StdioServerProcess: Sendable {
    let name: String
    let command: String
    let arguments: [String]
    /// Added to the host's environment.
    let environment: [String: String]
    let workingDirectory: String?
    let logger: Logger
    /// How long the server gets to exit after its stdin closes, and again after SIGTERM.
    var grace: Duration = .seconds(2)

    /// What a finished run reports.
    struct Outcome: Sendable {
        var ending: ServerProcessControl.Ending
        /// The error `session` ended with, if it failed (e.g. the handshake).
        var sessionError: (any Error)?
        /// The last lines the server wrote to stderr, for error messages.
        var stderrTail: [String]
    }

    /// Starts the program and runs `session` (the handshake) over it, with the process id. The
    /// process then serves until `stop` opens, when it is stopped (stdin closed, then SIGTERM,
    /// then SIGKILL), or until it exits by itself, when every request in flight fails with
    /// "MCP server 'x' exited (code N) during <call>". A failed `session` stops it too. Throws
    /// only when the program cannot be started.
    func run(stop: Latch, onNotification: @escaping @Sendable (String, JSONValue?) -> Void,
             session: @escaping @Sendable (JSONRPCPeer, Int32) async throws -> Void) async throws -> Outcome {
        _ = ServerProcessControl.ignoreBrokenPipes
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        guard let program = ServerProcessControl.resolve(command, environment: merged) else {
            throw MCPError("MCP server '\(name)': cannot start '\(command)': not found"
                           + (command.contains("/") ? " or not executable" : " on PATH"))
        }
        if let workingDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw MCPError("MCP server '\(name)': cannot start '\(command)': working directory '\(workingDirectory)' does not exist")
            }
        }
        let (executable, argv) = ServerProcessControl.withDeathSignal(program, arguments)
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, so stopping it reaches what it started
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
        let environmentKeys = Dictionary(uniqueKeysWithValues: merged.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
        let tail = StderrTail()
        let result: ExecutionResult<Outcome, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(argv), environment: .custom(environmentKeys),
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options,
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                await serve(pid: execution.processIdentifier.value, stdin: execution.standardInputWriter,
                            stdout: execution.standardOutput, stderr: execution.standardError, tail: tail, stop: stop,
                            onNotification: onNotification, session: session)
            }
        } catch {
            throw MCPError("MCP server '\(name)': cannot start '\(command)': \(error)")
        }
        var outcome = result.closureResult
        outcome.stderrTail = tail.lines
        return outcome
    }

    private enum Event: Sendable {
        case outputClosed
        case stopRequested
        case sessionEnded((any Error)?)
        case other
    }

    private func serve(pid: Int32, stdin: StandardInputWriter, stdout: SubprocessOutputSequence,
                       stderr: SubprocessOutputSequence, tail: StderrTail, stop: Latch,
                       onNotification: @escaping @Sendable (String, JSONValue?) -> Void,
                       session: @escaping @Sendable (JSONRPCPeer, Int32) async throws -> Void) async -> Outcome {
        let (lines, queue) = AsyncStream<[UInt8]>.makeStream()
        let peer = JSONRPCPeer(server: name, channel: StdioChannel(server: name, lines: queue), logger: logger,
                               onNotification: onNotification)
        let name = self.name, logger = self.logger
        let ended = Latch()
        return await withTaskGroup(of: Event.self) { group in
            group.addTask {
                for await line in lines {
                    do { _ = try await stdin.write(line) } catch { break }
                }
                try? await stdin.finish()  // end of input: a well-behaved server exits
                return .other
            }
            group.addTask {
                await Self.readLines(stderr) { line in
                    let text = String(decoding: line, as: UTF8.self)
                    tail.append(text)
                    logger.info("\(name): \(text)", metadata: ["mcp": .string(name)])
                }
                return .other
            }
            group.addTask {
                await Self.readLines(stdout) { line in
                    guard line.contains(where: { !isBlank($0) }) else { return }
                    do {
                        peer.receive(try JSONRPCMessage.messages(inText: String(decoding: line, as: UTF8.self)))
                    } catch {
                        logger.warning("MCP server '\(name)' wrote a line that is not JSON-RPC: \(String(decoding: line.prefix(200), as: UTF8.self))")
                    }
                }
                return .outputClosed
            }
            group.addTask {
                do {
                    try await session(peer, pid)
                    return .sessionEnded(nil)
                } catch {
                    return .sessionEnded(error)
                }
            }
            group.addTask {
                await Latch.first(stop, ended)
                return .stopRequested
            }
            // Serve until asked to stop, the handshake fails, or the server goes away by itself.
            var sessionError: (any Error)?
            var stopping = false
            events: while let event = await group.next() {
                switch event {
                case .outputClosed:
                    break events
                case .stopRequested:
                    stopping = true
                    break events
                case .sessionEnded(let error?):
                    sessionError = error
                    stopping = true
                    break events
                case .sessionEnded(nil), .other:
                    continue
                }
            }
            ended.open()
            queue.finish()
            let ending = await ServerProcessControl.stop(pid, grace: stopping ? grace : .milliseconds(500))
            if stopping {
                peer.close(inFlight: { MCPError("MCP server '\(name)' was stopped during \($0)") },
                           later: { _ in MCPError("MCP server '\(name)' has been stopped") })
            } else {
                peer.close(inFlight: { MCPError("MCP server '\(name)' exited (\(ending)) during \($0)") },
                           later: { _ in MCPError("MCP server '\(name)' exited (\(ending)) and is restarting; try again in a moment") })
            }
            // The rest ends by itself now: readers at the process's end, the handshake with the peer closed.
            while let event = await group.next() {
                if case .sessionEnded(let error?) = event, sessionError == nil { sessionError = error }
            }
            return Outcome(ending: ending, sessionError: sessionError, stderrTail: [])
        }
    }

    /// The longest line accepted; a longer one is dropped (a server that never ends its line
    /// must not take the host's memory).
    static let maxLineBytes = 64 << 20

    /// Calls `handle` with each line of `output` (split on "\n" only: JSON text may hold U+2028).
    private static func readLines(_ output: SubprocessOutputSequence, _ handle: ([UInt8]) -> Void) async {
        var pending: [UInt8] = []
        do {
            for try await buffer in output {
                buffer.withUnsafeBytes { pending.append(contentsOf: $0) }
                if pending.count > maxLineBytes, !pending.contains(0x0A) { pending.removeAll() }
                var start = pending.startIndex
                while let newline = pending[start...].firstIndex(of: 0x0A) {
                    handle(Array(pending[start..<newline]))
                    start = newline + 1
                }
                pending.removeSubrange(..<start)
            }
        } catch {}
        if !pending.isEmpty { handle(pending) }
    }
}

/// The last few stderr lines of a server, kept for the message when it fails to start.
final class StderrTail: Sendable {
    private let kept = Mutex<[String]>([])
    private let limit = 5

    func append(_ line: String) {
        kept.withLock { lines in
            lines.append(String(line.prefix(300)))
            if lines.count > limit { lines.removeFirst(lines.count - limit) }
        }
    }

    var lines: [String] { kept.withLock { $0 } }
}
