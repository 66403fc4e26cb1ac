import Foundation
import OrbiterCore
import Subprocess

/// Runs programs for trusted code (`orbiter.exec`) without blocking a thread (swift-subprocess).
///
/// The program leads its own process group. It ends one of three ways, and nothing it started
/// outlives it: it exits (what is left of its group is killed), its timeout passes, or the
/// calling task is cancelled (the group gets SIGTERM, `gracePeriod`, then SIGKILL). Both
/// outputs are read to the end, so the program never blocks on a full pipe; only the first
/// `maxOutputBytes` of each are kept.
public struct LocalProgramRunner: ProgramRunner {
    /// Between SIGTERM and SIGKILL when a program is stopped.
    public var gracePeriod: Duration

    public init(gracePeriod: Duration = .milliseconds(500)) {
        self.gracePeriod = gracePeriod
    }

    public func run(_ request: ProgramRequest) async throws -> ProgramResult {
        guard let program = request.arguments.first, !program.isEmpty else { throw ProgramRunError(.noProgram) }
        SignalDisposition.ignoreBrokenPipes()
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: gracePeriod)]
        let environment = Environment.inherit.updating(
            Dictionary(uniqueKeysWithValues: request.environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) }))
        let executable: Executable = program.contains("/") ? .path(.init(program)) : .name(program)
        let session = ProgramSession(request: request, gracePeriod: gracePeriod)
        let result: ExecutionResult<ProgramSession.Outcome, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                executable, arguments: Arguments(Array(request.arguments.dropFirst())), environment: environment,
                workingDirectory: request.workingDirectory.map { .init($0) }, platformOptions: options,
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                await session.run(execution)
            }
        } catch let error as SubprocessError {
            if Task.isCancelled { throw CancellationError() }
            throw ProgramRunError(StartFailure.cause(error, program: program, workingDirectory: request.workingDirectory))
        }
        switch result.closureResult {
        case .cancelled:
            throw CancellationError()
        case .timedOut:
            throw ProgramRunError(.timedOut(request.timeout))
        case .finished(let output, let error):
            let code: Int
            switch result.terminationStatus {
            case .exited(let status): code = Int(status)
            case .signaled(let signal): code = 128 + Int(signal)
            }
            return ProgramResult(code: code, standardOutput: output.bytes, standardError: error.bytes,
                                 truncated: output.truncated || error.truncated)
        }
    }
}

/// Process-wide signal settings a program runner needs.
enum SignalDisposition {
    /// A program that exits without reading all its input must fail our write (EPIPE), not kill
    /// this process with SIGPIPE. Children get default dispositions back (swift-subprocess resets them).
    static func ignoreBrokenPipes() { _ = ignored }

    private static let ignored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
}
