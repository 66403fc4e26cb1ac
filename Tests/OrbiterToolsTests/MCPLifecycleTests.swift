import Foundation
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools
import Testing

/// Server processes end with their host: at shutdown, and when the host is killed.
@Suite("MCP server processes", .serialized)
struct MCPLifecycleTests {
    @Test("shutdown stops every server process, and later uses fail")
    func shutdownLeavesNoProcess() async throws {
        let hub = MCPFixtures.localHub()
        let time = try MCPFixtures.stdio("time", ["-m", "mcp_server_time"])
        _ = try await hub.tools(for: time)
        _ = try await hub.tools(for: try MCPFixtures.stdio("crashy", [MCPFixtures.script("crashy_server.py")]))
        let processes = await hub.serverProcesses()
        #expect(processes.map(\.server) == ["crashy", "time"])
        let started = ContinuousClock.now
        await hub.shutdown()
        #expect(ContinuousClock.now - started < .seconds(2), "well-behaved servers exit when their stdin closes")
        for process in processes { #expect(!processIsAlive(process.pid), "\(process.server) still runs") }
        await #expect {
            _ = try await hub.tools(for: time)
        } throws: { error in
            "\(error)".contains("shut down")
        }
    }

    @Test("a server that ignores the end of its input gets SIGTERM, and its whole process group goes")
    func shutdownEscalates() async throws {
        let hub = MCPFixtures.localHub()
        let tools = try await hub.tools(for: try MCPFixtures.stdio("stubborn", [MCPFixtures.script("stubborn_server.py"), "--with-child"]))
        let child = try #require(try await call(tools, "stubborn__child_pid")["result"]?.intValue)
        let server = try #require(await hub.serverProcesses().first?.pid)
        let started = ContinuousClock.now
        await hub.shutdown()
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(2) && took < .seconds(5), "closed stdin, waited 2 s, then SIGTERM: \(took)")
        #expect(!processIsAlive(server))
        #expect(child > 0)
        try await eventually("the server's child is gone", timeout: .seconds(3)) { !processIsAlive(Int32(child)) }
    }

    @Test("the real servers exit when their stdin closes (what saves them from orphanhood without a death signal)")
    func realServersExitOnEndOfInput() async throws {
        let python = try MCPFixtures.python()
        let repository = try temporaryFolder("orbiter-mcp-eof")
        defer { try? FileManager.default.removeItem(at: repository) }
        for arguments in [["-m", "mcp_server_time"], ["-m", "mcp_server_git", "--repository", repository.path]] {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: python)
            server.arguments = arguments
            let input = Pipe()
            server.standardInput = input
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            try await Task.sleep(for: .milliseconds(800))  // let it get into its read loop
            try input.fileHandleForWriting.close()
            try await eventually("\(arguments[1]) exits at end of input", timeout: .seconds(5)) { !server.isRunning }
        }
    }

    @Test("kill -9 of the host process: its servers die with it (death signal), even one that ignores end of input")
    func noOrphansAfterKill() async throws {
        try #require(ServerProcessControl.withDeathSignal("/bin/true", []).0 != "/bin/true",
                     "setpriv (util-linux) is missing: a server that ignores the end of its input would outlive a killed host")
        // orbiter-bench mcp-host starts mcp-server-time and the stubborn server, prints their pids, and waits.
        let host = Process()
        host.executableURL = URL(fileURLWithPath: OrbiterBinary.path).deletingLastPathComponent().appendingPathComponent("orbiter-bench")
        host.arguments = ["mcp-host", "--python", try MCPFixtures.python(), "--script", MCPFixtures.script("stubborn_server.py")]
        let output = Pipe()
        host.standardOutput = output
        host.standardError = FileHandle.nullDevice
        try host.run()
        defer { if host.isRunning { host.terminate() } }
        let line = try await firstLine(of: output.fileHandleForReading)
        let pids = try #require(try JSONValue.parse(line)["pids"]?.arrayValue?.compactMap { $0.intValue.map(Int32.init) }, "\(line)")
        #expect(pids.count == 2)
        for pid in pids { #expect(processIsAlive(pid)) }
        kill(host.processIdentifier, SIGKILL)
        try await eventually("the servers of the killed host are gone", timeout: .seconds(5)) {
            pids.allSatisfy { !processIsAlive($0) }
        }
    }
}

/// The first line `handle` gives, read on a thread of its own (FileHandle reads block).
private func firstLine(of handle: FileHandle) async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            while true {
                let piece = handle.readData(ofLength: 1)
                if piece.isEmpty || piece.first == 0x0A { break }
                bytes += piece
            }
            if bytes.isEmpty { continuation.resume(throwing: TestFailure("the host printed nothing")) }
            else { continuation.resume(returning: String(decoding: bytes, as: UTF8.self)) }
        }
    }
}
