import Foundation
import OrbiterTestSupport
import Testing

/// What runs here but not on a worker is caught here: `run --sandbox`, and warnings from `check`.
@Suite("Sandbox from the CLI", .serialized)
struct SandboxCLITests {
    /// A script whose top level reads the environment, as examples/weather.lua once did.
    let getenvAtTopLevel = """
        local orbiter = require "orbiter"
        local m = orbiter.model { name = "m", respond = function() return "hi" end }
        return orbiter.agent { name = "a", model = os.getenv("ORBITER_MODEL") or m }
        """

    @Test("run --sandbox fails where a worker would")
    func runSandboxFailsWhereAWorkerWould() async throws {
        let path = try temporaryScript(getenvAtTopLevel)
        let local = try await OrbiterBinary.run(["run", path, "x"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(local.stdout == "hi\n")
        let sandboxed = try await OrbiterBinary.run(["run", "--sandbox", path, "x"])
        #expect(sandboxed.status == 2)
        #expect(sandboxed.stderr.contains("attempt to call a nil value (field 'getenv')"), "\(sandboxed.stderr)")
        #expect(sandboxed.stderr.contains((path as NSString).lastPathComponent + ":3:"), "\(sandboxed.stderr)")
        let io = try await OrbiterBinary.run(["run", "--sandbox", try temporaryScript("return io.open('/etc/hostname')")])
        #expect(io.status == 2)
        #expect(io.stderr.contains("attempt to index a nil value (global 'io')"), "\(io.stderr)")
    }

    @Test("check warns about what workers lack")
    func checkWarnsAboutWhatWorkersLack() async throws {
        let path = try temporaryScript(getenvAtTopLevel)
        let r = try await OrbiterBinary.run(["check", path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: \(path) loads here but not on a worker"), "\(r.stderr)")
        #expect(r.stderr.contains("orbiter run --sandbox"), "\(r.stderr)")
        #expect(r.stdout.contains("\"type\": \"agent\""), "\(r.stdout)")
        for example in ["examples/calculator.lua", "examples/weather.lua"] {
            let ok = try await OrbiterBinary.run(["check", example])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(!ok.stderr.contains("warning"), "\(example): \(ok.stderr)")
        }
    }

    @Test("orbiter.sleep refuses non-finite and absurd durations", arguments: ["math.huge", "0/0", "1e308", "-1"])
    func sleepRefusesNonFiniteAndAbsurdDurations(value: String) async throws {
        let path = try temporaryScript("""
            local orbiter = require "orbiter"
            local m = orbiter.model { name = "m", respond = function() orbiter.sleep(\(value)) return "slept" end }
            return orbiter.agent { name = "a", model = m }
            """)
        let r = try await OrbiterBinary.run(["run", path, "x"])
        #expect(r.status == 1, "\(value): \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("orbiter.sleep: expects a number of seconds from 0 to 86400"), "\(value): \(r.stderr)")
    }
}
