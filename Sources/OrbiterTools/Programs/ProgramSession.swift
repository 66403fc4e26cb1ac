import Foundation
import OrbiterCore
import Subprocess

/// What happens while one program runs: its input written, both outputs read, the clock watched;
/// and how it is stopped when time runs out or the caller goes away.
struct ProgramSession: Sendable {
    let request: ProgramRequest
    let gracePeriod: Duration

    enum Outcome: Sendable {
        case finished(output: CapturedOutput, error: CapturedOutput)
        case timedOut
        case cancelled
    }

    private enum Event: Sendable {
        case inputWritten
        case output(CapturedOutput)
        case error(CapturedOutput)
        case exited
        case timedOut
        case cancelled
    }

    func run(_ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>) async -> Outcome {
        let group = ProcessGroup(leader: execution.processIdentifier.value)
        let limit = request.maxOutputBytes
        let input = request.standardInput
        let timeout = request.timeout
        return await withTaskGroup(of: Event.self) { tasks in
            tasks.addTask {
                let writer = execution.standardInputWriter
                // A program that does not read its input fails this write (EPIPE); that is its business.
                if let input, !input.isEmpty { _ = try? await writer.write(input) }
                try? await writer.finish()
                return .inputWritten
            }
            tasks.addTask { .output(await CapturedOutput.read(execution.standardOutput, keeping: limit)) }
            tasks.addTask { .error(await CapturedOutput.read(execution.standardError, keeping: limit)) }
            tasks.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            var output: CapturedOutput?
            var error: CapturedOutput?
            while let event = await tasks.next() {
                switch event {
                case .inputWritten:
                    continue
                case .output(let captured):
                    output = captured
                case .error(let captured):
                    error = captured
                case .exited:
                    // Whatever the program left running would hold on to nothing of ours any more.
                    group.send(SIGKILL)
                    tasks.cancelAll()
                    return .finished(output: output ?? CapturedOutput(), error: error ?? CapturedOutput())
                case .timedOut:
                    await stop(group, tasks: &tasks)
                    return .timedOut
                case .cancelled:
                    await stop(group, tasks: &tasks)
                    return .cancelled
                }
                if output != nil, error != nil {
                    // Both pipes are closed; the leader may still run (it closed them itself).
                    tasks.addTask { await group.waitForLeader() ? .exited : .cancelled }
                }
            }
            return .cancelled
        }
    }
}

extension ProgramSession {
    /// Stopping the group closes its pipes, which lets the readers finish.
    private func stop(_ group: ProcessGroup, tasks: inout TaskGroup<Event>) async {
        await group.terminate(grace: gracePeriod)
        tasks.cancelAll()
    }
}

/// The first bytes of one output stream, read to its end.
struct CapturedOutput: Sendable {
    var bytes: [UInt8] = []
    /// Whether bytes beyond the limit were dropped.
    var truncated = false

    static func read(_ stream: SubprocessOutputSequence, keeping limit: Int) async -> CapturedOutput {
        var captured = CapturedOutput()
        do {
            for try await buffer in stream {
                buffer.withUnsafeBytes { raw in
                    let room = limit - captured.bytes.count
                    if raw.count <= room {
                        captured.bytes.append(contentsOf: raw)
                    } else {
                        captured.bytes.append(contentsOf: raw.prefix(max(0, room)))
                        captured.truncated = true
                    }
                }
            }
        } catch {
            // The stream ends early when the program is stopped; what was read stands.
        }
        return captured
    }
}
