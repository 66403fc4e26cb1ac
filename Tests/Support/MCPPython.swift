import Foundation

/// The virtualenv python with `mcp`, `mcp-server-time` and `mcp-server-git` that scripts/test.sh
/// installs: ORBITER_TEST_PYTHON, else `.venv-tools/bin/python` in the package root.
public enum MCPPython {
    /// Its path; when it is missing the test fails saying how to get it (never skips).
    public static func path() throws -> String {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["ORBITER_TEST_PYTHON"],
                                     OrbiterBinary.repositoryRoot.appendingPathComponent(".venv-tools/bin/python").path]
        for case let path? in candidates where !path.isEmpty && FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw TestFailure("no python with the MCP servers (ORBITER_TEST_PYTHON or .venv-tools/bin/python): "
                          + "run scripts/test.sh, which installs the MCP servers")
    }
}
