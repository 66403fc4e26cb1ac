import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing
@testable import OrbiterTools

@Suite("Running programs")
struct LocalProgramRunnerTests {
    let runner = LocalProgramRunner(gracePeriod: .milliseconds(200))

    private func run(_ arguments: String..., input: String? = nil, environment: [String: String] = [:],
                     directory: String? = nil, maxOutputBytes: Int = 1 << 20) async throws -> ProgramResult {
        try await runner.run(ProgramRequest(arguments: arguments, workingDirectory: directory, environment: environment,
                                            standardInput: input.map { Array($0.utf8) }, timeout: .seconds(10),
                                            maxOutputBytes: maxOutputBytes))
    }

    @Test("code, standard output and standard error")
    func outputs() async throws {
        let result = try await run("sh", "-c", "echo out; echo err >&2; exit 3")
        #expect(result.code == 3)
        #expect(String(decoding: result.standardOutput, as: UTF8.self) == "out\n")
        #expect(String(decoding: result.standardError, as: UTF8.self) == "err\n")
        #expect(!result.truncated)
    }

    @Test("a program ended by a signal reports 128 + the signal")
    func signalled() async throws {
        #expect(try await run("sh", "-c", "kill -9 $$").code == 137)
        #expect(try await run("sh", "-c", "kill -TERM $$").code == 143)
    }

    @Test("standard input is given to the program; without it the program reads end of file")
    func input() async throws {
        #expect(try await run("cat", input: "hello\nworld").standardOutput == Array("hello\nworld".utf8))
        #expect(try await run("cat").standardOutput.isEmpty)
        let big = String(repeating: "x", count: 1 << 20)
        #expect(String(decoding: try await run("wc", "-c", input: big).standardOutput, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1048576")
    }

    @Test("a program that does not read its input still ends normally")
    func unreadInput() async throws {
        let result = try await run("true", input: String(repeating: "x", count: 1 << 20))
        #expect(result.code == 0)
    }

    @Test("working directory and environment (the host's, plus the request's)")
    func directoryAndEnvironment() async throws {
        let folder = try temporaryFolder("orbiter-exec").resolvingSymlinksInPath().path
        #expect(String(decoding: try await run("pwd", directory: folder).standardOutput, as: UTF8.self) == folder + "\n")
        let result = try await run("sh", "-c", #"echo "$ORBITER_TEST_VALUE:$HOME""#, environment: ["ORBITER_TEST_VALUE": "v1"])
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        #expect(String(decoding: result.standardOutput, as: UTF8.self) == "v1:\(home)\n")
    }

    @Test("output beyond maxOutputBytes is dropped, and reading goes on so the program finishes")
    func truncation() async throws {
        let result = try await run("sh", "-c", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2; echo done >&2",
                                   maxOutputBytes: 1000)
        #expect(result.code == 0)
        #expect(result.standardOutput.count == 1000)
        #expect(result.standardError.count == 1000)
        #expect(result.truncated)
    }

    @Test("programs that cannot start say why", arguments: [
        (["nosuchprog-orbiter"], nil, "orbiter.exec: program 'nosuchprog-orbiter' not found on PATH"),
        (["/nope/prog"], nil, "orbiter.exec: program '/nope/prog' does not exist"),
        (["pwd"], "/nope", "orbiter.exec: working directory '/nope' does not exist"),
        (["pwd"], "/etc/hostname", "orbiter.exec: working directory '/etc/hostname' is not a directory"),
        ([], nil, "orbiter.exec: no program given"),
    ] as [([String], String?, String)])
    func cannotStart(arguments: [String], directory: String?, message: String) async throws {
        let error = await #expect(throws: ProgramRunError.self) {
            try await runner.run(ProgramRequest(arguments: arguments, workingDirectory: directory, timeout: .seconds(5)))
        }
        #expect(error?.description == message)
    }

    @Test("a file without the execute bit is not executable")
    func notExecutable() async throws {
        let path = try temporaryFolder("orbiter-exec", files: ["tool.sh": "echo hi\n"]).appendingPathComponent("tool.sh").path
        let error = await #expect(throws: ProgramRunError.self) { try await runner.run(ProgramRequest(arguments: [path])) }
        #expect(error?.description == "orbiter.exec: program '\(path)' is not executable")
    }

    @Test("a program that closes its outputs and runs on is waited for")
    func closesOutputsFirst() async throws {
        let start = ContinuousClock.now
        let result = try await run("sh", "-c", "echo early; exec >&- 2>&-; sleep 0.4; exit 5")
        #expect(result.code == 5)
        #expect(result.standardOutput == Array("early\n".utf8))
        #expect(seconds(since: start) >= 0.4)
    }
}
