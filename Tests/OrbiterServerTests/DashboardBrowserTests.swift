import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// The dashboard in a real browser: Debian's headless chromium driven by Selenium
/// (Tests/Fixtures/dashboard/browser_check.py), against a live server and worker. Screenshots
/// are saved to .build/test-artifacts/dashboard/.
@Suite("Dashboard in a browser", .serialized)
struct DashboardBrowserTests {
    @Test("sign in, live counts, throughput, tokens, filters, a streaming timeline, cancel from the page, CSRF refused")
    func browser() async throws {
        try await withServer { s in
            try s.startWorker(concurrency: 1)
            let done = try await s.submit(try Scripts.calculator, input: "2 + 40")
            _ = try await s.call(.GET, "/v1/tasks/\(done)/result?wait=20")
            let running = try await s.submit(Scripts.ticker(ticks: 200, seconds: 0.2, talk: true), input: "go", extra: ["detailed": true])
            try await s.waitForStatus(running, "running")
            let shots = OrbiterBinary.repositoryRoot.appendingPathComponent(".build/test-artifacts/dashboard").path
            let run = try await runProgram(try MCPPython.path(),
                                           ["Tests/Fixtures/dashboard/browser_check.py", s.baseURL, ServerFixture.submit, s.queue, running, done, shots])
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr.suffix(6000))")
            #expect(run.stdout.contains("dashboard checks passed"), "\(run.stdout)")
            let status = try await s.call(.GET, "/v1/tasks/\(running)").json?["status"]?.stringValue
            #expect(status == "cancelled", "cancelled from the page: \(status ?? "-")")
            for name in ["overview", "overview-filtered", "task-running", "task-cancelled", "task-completed", "overview-phone"] {
                #expect(FileManager.default.fileExists(atPath: "\(shots)/\(name).png"), "screenshot \(name)")
            }
        }
    }

    @Test("pages and assets: sign-in form, CSP, no token leaks, 404 for a hidden task")
    func pages() async throws {
        try await withServer { s in
            let login = try await s.call(.GET, "/", token: nil)
            #expect(login.status == 200 && login.text.contains("<form method=\"post\" action=\"/ui/login\">"), "\(login.text)")
            #expect(login.headers["Content-Security-Policy"].first?.contains("default-src 'self'") == true)
            #expect(login.headers["X-Frame-Options"] == ["DENY"])
            let bad = try await s.call(.POST, "/ui/login", token: nil, body: "token=wrong-token-0123456789", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(bad.status == 401 && bad.text.contains("not valid"))
            let good = try await s.call(.POST, "/ui/login", token: nil, body: "token=\(ServerFixture.read)", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(good.status == 303)
            let cookie = try #require(good.headers["Set-Cookie"].first)
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
            let crossSite = try await s.call(.POST, "/ui/login", token: nil, body: "token=\(ServerFixture.read)",
                                             headers: [("Origin", "https://evil.example")])
            #expect(crossSite.status == 403)
            let sameSite = try await s.call(.POST, "/ui/login", token: nil, body: "token=\(ServerFixture.read)",
                                            headers: [("Origin", s.baseURL)])
            #expect(sameSite.status == 303, "a form on the server's own page signs in: \(sameSite.text)")
            let session = [("Cookie", String(cookie.prefix { $0 != ";" }))]
            let overview = try await s.call(.GET, "/", token: nil, headers: session)
            #expect(overview.status == 200 && overview.text.contains("id=\"queues\""), "\(overview.text.prefix(500))")
            #expect(!overview.text.contains(ServerFixture.read), "the page never shows the token")
            #expect(!overview.text.contains("data-action=\"retry\""), "a read token gets no buttons")
            let byCookie = try await s.call(.GET, "/v1/queues", token: nil, headers: session)
            #expect(byCookie.status == 200, "the page's own calls use the cookie")
            let changeByCookie = try await s.call(.DELETE, "/v1/tasks?status=failed&older_than=1d", token: nil, headers: session)
            #expect(changeByCookie.status == 403 && changeByCookie.code == "csrf", "\(changeByCookie.text)")
            let oneShot = try await s.call(.GET, "/?token=\(ServerFixture.admin)", token: nil)
            #expect(oneShot.status == 303 && oneShot.headers["Location"] == ["/"])
            let js = try await s.call(.GET, "/ui/app.js", token: nil)
            #expect(js.status == 200 && js.text.contains("EventSource"))
            let css = try await s.call(.GET, "/ui/app.css", token: nil)
            #expect(css.status == 200 && css.headers["Content-Type"].first?.hasPrefix("text/css") == true)
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1")
            let hidden = try await s.call(.GET, "/ui/tasks/\(id)", token: nil,
                                          headers: [("Cookie", "orbiter_token=\(ServerFixture.elsewhere)")])
            #expect(hidden.status == 404, "\(hidden.text)")
            let escaped = try await s.call(.POST, "/v1/tasks", json: ["script": .string(try Scripts.calculator), "input": "1 + 1",
                                                                      "metadata": ["note": "<script>alert(1)</script>"]])
            let escapedID = try #require(escaped.json?["task_id"]?.stringValue)
            let page = try await s.call(.GET, "/ui/tasks/\(escapedID)", token: nil, headers: session)
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.text.contains("<script>alert(1)"), "metadata is escaped")
            // An agent's name is anyone's text too (Lua refuses such a name, but whoever can write
            // to Redis can set it): escaped in the task list, and a filter by it finds it.
            let named = try await s.submit(try Scripts.calculator, input: "1 + 1")
            let broker = try s.broker()
            _ = try await broker.client.send(["HSET", broker.keys.task(named), "agent", "<img src=x onerror=alert(1)>"])
            let listed = try await s.call(.GET, "/?agent=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", token: nil, headers: session)
            #expect(listed.text.contains(named), "\(listed.text.prefix(3000))")
            #expect(listed.text.contains("&lt;img src=x onerror=alert(1)&gt;") && !listed.text.contains("<img src=x"), "the agent's name is escaped")
        }
    }
}

/// Runs `program args...` in the repository root to the end.
func runProgram(_ program: String, _ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = args
    process.currentDirectoryURL = OrbiterBinary.repositoryRoot
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    async let stdout = readToEnd(out)
    async let stderr = readToEnd(err)
    let (o, e) = await (stdout, stderr)
    process.waitUntilExit()
    return (process.terminationStatus, o, e)
}
