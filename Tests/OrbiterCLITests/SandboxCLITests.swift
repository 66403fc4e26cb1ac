import Foundation
import OrbiterTestSupport
import XCTest

/// What runs here but not on a worker is caught here: `run --sandbox`, and warnings from `check`.
final class SandboxCLITests: XCTestCase {
    func script(_ source: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-sandbox-\(UUID().uuidString).lua")
        try source.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// A script whose top level reads the environment, as examples/weather.lua once did.
    let getenvAtTopLevel = """
        local orbiter = require "orbiter"
        local m = orbiter.model { name = "m", respond = function() return "hi" end }
        return orbiter.agent { name = "a", model = os.getenv("ORBITER_MODEL") or m }
        """

    func testRunSandboxFailsWhereAWorkerWould() async throws {
        let path = try script(getenvAtTopLevel)
        let local = try await OrbiterBinary.run(["run", path, "x"])
        XCTAssertEqual(local.status, 0, local.stderr)
        XCTAssertEqual(local.stdout, "hi\n")
        let sandboxed = try await OrbiterBinary.run(["run", "--sandbox", path, "x"])
        XCTAssertEqual(sandboxed.status, 2)
        XCTAssertTrue(sandboxed.stderr.contains("attempt to call a nil value (field 'getenv')"), sandboxed.stderr)
        XCTAssertTrue(sandboxed.stderr.contains((path as NSString).lastPathComponent + ":3:"), sandboxed.stderr)
        let io = try await OrbiterBinary.run(["run", "--sandbox", try script("return io.open('/etc/hostname')")])
        XCTAssertEqual(io.status, 2)
        XCTAssertTrue(io.stderr.contains("attempt to index a nil value (global 'io')"), io.stderr)
    }

    func testCheckWarnsAboutWhatWorkersLack() async throws {
        let path = try script(getenvAtTopLevel)
        let r = try await OrbiterBinary.run(["check", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: \(path) loads here but not on a worker"), r.stderr)
        XCTAssertTrue(r.stderr.contains("orbiter run --sandbox"), r.stderr)
        XCTAssertTrue(r.stdout.contains("\"type\": \"agent\""), r.stdout)
        for example in ["examples/calculator.lua", "examples/weather.lua"] {
            let ok = try await OrbiterBinary.run(["check", example])
            XCTAssertEqual(ok.status, 0, ok.stderr)
            XCTAssertFalse(ok.stderr.contains("warning"), "\(example): \(ok.stderr)")
        }
    }

    func testSleepRefusesNonFiniteAndAbsurdDurations() async throws {
        for value in ["math.huge", "0/0", "1e308", "-1"] {
            let path = try script("""
                local orbiter = require "orbiter"
                local m = orbiter.model { name = "m", respond = function() orbiter.sleep(\(value)) return "slept" end }
                return orbiter.agent { name = "a", model = m }
                """)
            let r = try await OrbiterBinary.run(["run", path, "x"])
            XCTAssertEqual(r.status, 1, "\(value): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("orbiter.sleep: expects a number of seconds from 0 to 86400"), "\(value): \(r.stderr)")
        }
    }
}
