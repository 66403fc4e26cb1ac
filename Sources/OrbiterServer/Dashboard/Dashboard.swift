import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import OrbiterCore
import OrbiterQueue

/// The web dashboard (`GET /`): queues, tasks, a task's live timeline, workers and dead letters,
/// rendered here from the same calls as the API; the page's script (Resources/dashboard.js)
/// follows events and calls the API with the sign-in cookie and the page's CSRF token.
struct Dashboard {
    let api: APIResponder
    let brokers: BrokerPool
    var configuration: ServerConfiguration { api.configuration }

    func respond(_ request: inout Request, parts: [String]) async throws -> Response {
        switch (request.method, parts) {
        case (.get, ["ui", "app.js"]): return asset("dashboard", "js", contentType: "text/javascript; charset=utf-8")
        case (.get, ["ui", "app.css"]): return asset("dashboard", "css", contentType: "text/css; charset=utf-8")
        case (.post, ["ui", "login"]): return try await login(&request)
        case (.post, ["ui", "logout"]):
            if request.isCrossSite(allowedOrigin: nil) { throw APIError(.forbidden, "cross_site", "sign-out from another site is refused") }
            return HTMLPage.redirect("/", setCookie: BrowserSession.cookie(""))
        case (.get, []):
            // `/?token=T` once: sign in, then drop the token from the address bar.
            if let token = request.query("token") {
                guard configuration.tokens.match(token) != nil else { return loginPage(error: "That token is not valid for this server.") }
                return HTMLPage.redirect("/", setCookie: BrowserSession.cookie(token))
            }
            guard let (token, csrf) = signedIn(request) else { return loginPage(error: nil) }
            return try await overview(request, token: token, csrf: csrf)
        case (.get, let p) where p.count == 3 && p[0] == "ui" && p[1] == "tasks":
            guard let (token, csrf) = signedIn(request) else { return loginPage(error: nil) }
            return try await taskPage(request, id: p[2], token: token, csrf: csrf)
        default:
            throw APIError.notFound("no such page: \(request.uri.path.prefix(200))")
        }
    }

    /// The signed-in token and its CSRF token, or nil (show the sign-in form).
    private func signedIn(_ request: Request) -> (APIToken, String)? {
        if configuration.tokens.isOpen { return (APIToken(token: "", scope: .admin, name: "open"), api.session.csrf(for: "")) }
        guard let presented = api.session.token(in: request), let token = configuration.tokens.match(presented) else { return nil }
        return (token, api.session.csrf(for: presented))
    }

    private func login(_ request: inout Request) async throws -> Response {
        if request.isCrossSite(allowedOrigin: nil) { throw APIError(.forbidden, "cross_site", "sign-in from another site is refused") }
        var collected = ""
        for try await buffer in request.body {
            collected += String(buffer: buffer)
            guard collected.utf8.count <= 4096 else { throw APIError(.contentTooLarge, "body_too_large", "the sign-in form is larger than 4 KiB") }
        }
        let fields = Dictionary(collected.split(separator: "&").map { pair -> (String, String) in
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            return (kv.first ?? "", kv.count > 1 ? kv[1] : "")
        }, uniquingKeysWith: { a, _ in a })
        let token = (fields["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard configuration.tokens.match(token) != nil else { return loginPage(error: "That token is not valid for this server.", status: .unauthorized) }
        return HTMLPage.redirect("/", setCookie: BrowserSession.cookie(token))
    }

    private func loginPage(error: String?, status: HTTPResponse.Status = .ok) -> Response {
        HTMLPage.page(title: "Sign in", csrf: "", body: """
            <section class="login"><h2>Sign in</h2>
            \(error.map { "<p class=\"error\" role=\"alert\">\(HTMLPage.esc($0))</p>" } ?? "")
            <form method="post" action="/ui/login">
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required>
            <button type="submit">Sign in</button>
            </form>
            <p class="hint">The token is kept in an HttpOnly cookie for a day. A <code>read</code> token shows; <code>submit</code> also cancels and answers; <code>admin</code> also retries and purges.</p>
            </section>
            """, status: status)
    }

    private func asset(_ name: String, _ ext: String, contentType: String) -> Response {
        var response = Reply.text(DashboardAssets.text(name, ext), contentType: contentType)
        response.headers[.cacheControl] = "no-cache"
        return response
    }

    // MARK: Pages

    private func overview(_ request: Request, token: APIToken, csrf: String) async throws -> Response {
        let queue = request.query("queue").flatMap { $0.isEmpty ? nil : $0 } ?? configuration.defaultQueue
        let broker = try brokers.broker(queue)
        guard token.sees(broker.keys.queue) else { throw APIError(.forbidden, "forbidden", "the token '\(token.name)' may not see queue '\(queue)'") }
        let filter = try Routes.listFilter(request)
        let cursor = request.query("cursor").flatMap { (try? TaskID.validate($0)) == nil ? nil : $0 }
        var names = Set(try await broker.knownQueues())
        names.insert(configuration.defaultQueue)
        var queueRows: [String] = []
        for name in names.sorted() where token.sees(name) {
            let s = try await brokers.broker(name).stats()
            let cells = [("pending", "\(s.pending)"), ("running", "\(s.running)"), ("delayed", "\(s.delayed)"), ("scheduled", "\(s.scheduled)"),
                         ("waiting", "\(s.waiting)"), ("dead", "\(s.dead)"), ("completed_last_hour", "\(s.completedLastHour)"),
                         ("failed_last_hour", "\(s.failedLastHour)"), ("tokens_last_hour", "-"), ("cost_last_hour", "-"),
                         ("workers_alive", "\(s.workersAlive)")]
            queueRows.append("<tr data-queue=\"\(HTMLPage.esc(name))\"><th scope=\"row\"><a href=\"/?queue=\(enc(name))\">\(HTMLPage.esc(name))</a></th>"
                             + cells.map { "<td data-field=\"\($0.0)\">\($0.1)</td>" }.joined() + "</tr>")
        }
        let page = try await broker.listPage(filter, limit: 25, cursor: cursor)
        let taskRows = page.tasks.map { t in
            "<tr><td><a href=\"/ui/tasks/\(t.taskID)?queue=\(enc(queue))\"><code>\(t.taskID)</code></a></td><td class=\"status \(t.status.rawValue)\">\(t.status.rawValue)</td>"
                + "<td class=\"agent\">\(HTMLPage.esc(t.agent ?? "-"))</td>"
                + "<td>\(HTMLPage.time(t.createdAt?.timeIntervalSince1970))</td><td>\(HTMLPage.esc(t.workerID ?? "-"))</td></tr>"
        }
        let statusOptions = ([""] + TaskStatus.allCases.map(\.rawValue)).map { s in
            "<option value=\"\(s)\"\(s == (filter.status?.rawValue ?? "") ? " selected" : "")>\(s.isEmpty ? "any" : s)</option>"
        }.joined()
        func ageOptions(_ parameter: String, ago: Bool) -> String {
            let chosen = request.query(parameter) ?? ""
            return [("", ""), ("5m", "5 minutes"), ("1h", "an hour"), ("24h", "a day"), ("7d", "a week")].map { value, label in
                let text = value.isEmpty ? (ago ? "any time" : "any") : (ago ? label + " ago" : label)
                return "<option value=\"\(value)\"\(value == chosen ? " selected" : "")>\(text)</option>"
            }.joined()
        }
        // The filters ride along on the next page's link.
        let kept = [("queue", queue), ("status", filter.status?.rawValue ?? ""), ("agent", filter.agent ?? ""),
                    ("newer_than", request.query("newer_than") ?? ""), ("older_than", request.query("older_than") ?? "")]
            .filter { !$0.1.isEmpty }.map { "\($0.0)=\(enc($0.1))" }.joined(separator: "&")
        let next = page.next.map { "<a class=\"next\" href=\"/?\(kept)&cursor=\($0)\">Older tasks →</a>" } ?? ""
        let workers = try await broker.workers()
        let workerRows = workers.map { w in
            "<tr><td>\(HTMLPage.esc(w.id))</td><td class=\"status \(w.state)\">\(w.state)</td><td>\(HTMLPage.esc(w.fields["version"] ?? "-"))</td>"
                + "<td>\(HTMLPage.esc(w.fields["concurrency"] ?? "-"))</td><td>\(runningCount(w))</td><td>\(HTMLPage.time(w.lastHeartbeat.timeIntervalSince1970))</td></tr>"
        }
        let dead = try await broker.deadLetters(limit: 20)
        let canRetry = token.scope >= .admin
        let deadRows = dead.map { d in
            "<tr><td><a href=\"/ui/tasks/\(d.taskID)?queue=\(enc(queue))\"><code>\(HTMLPage.esc(d.taskID))</code></a></td><td>\(HTMLPage.esc(String(d.reason.prefix(300))))</td>"
                + "<td>\(d.attempts)</td><td>\(HTMLPage.time(d.at.timeIntervalSince1970))</td>"
                + "<td>\(canRetry ? "<button type=\"button\" data-action=\"retry\" data-task=\"\(HTMLPage.esc(d.taskID))\" data-queue=\"\(HTMLPage.esc(queue))\">Retry</button>" : "")</td></tr>"
        }
        let purge = canRetry && !dead.isEmpty
            ? "<button type=\"button\" data-action=\"purge\" data-status=\"failed\" data-queue=\"\(HTMLPage.esc(queue))\">Purge failed tasks</button>" : ""
        let body = """
            \(HTMLPage.table("Queues", id: "queues", headers: ["queue", "pending", "running", "delayed", "scheduled", "waiting", "dead", "done (1 h)", "failed (1 h)",
                                                            "tokens (1 h)", "cost (1 h)", "workers"],
                             rows: queueRows, empty: "No queue has been used yet."))
            <section><h2>Activity</h2>
            <div class="charts">
            <figure><svg id="chart" class="chart" viewBox="0 0 300 60" role="img" aria-labelledby="chart-caption" preserveAspectRatio="none">
            <polyline id="chart-done" points=""/><polyline id="chart-failed" points=""/></svg>
            <figcaption id="chart-caption">Throughput: tasks that <span class="key done">completed</span> and <span class="key failed">failed</span> per second, the last two minutes. Now <span id="throughput">-</span>; failure rate (1 h): <span id="failure-rate">-</span>.</figcaption></figure>
            <figure><svg id="hour-chart" class="chart" viewBox="0 0 300 60" role="img" aria-labelledby="hour-caption" preserveAspectRatio="none"><g id="hour-bars"></g></svg>
            <figcaption id="hour-caption">Tasks <span class="key done">completed</span> and <span class="key failed">failed</span> per minute, the last hour (busiest minute: <span id="hour-peak">-</span>).</figcaption></figure>
            <figure><svg id="backlog-chart" class="chart" viewBox="0 0 300 60" role="img" aria-labelledby="backlog-caption" preserveAspectRatio="none">
            <polyline id="chart-pending" points=""/><polyline id="chart-running" points=""/></svg>
            <figcaption id="backlog-caption">Tasks <span class="key pending">pending</span> and <span class="key running">running</span>, the last two minutes.</figcaption></figure>
            </div>
            <div class="scroll"><table id="models"><caption>Models, the last hour (all shown queues)</caption>
            <thead><tr><th scope="col">model</th><th scope="col">tasks</th><th scope="col">input tokens</th><th scope="col">output tokens</th><th scope="col">cost</th></tr></thead>
            <tbody><tr><td colspan="5" class="empty">No model calls in the last hour.</td></tr></tbody></table></div>
            </section>
            <section><h2>Tasks on '\(HTMLPage.esc(queue))'</h2>
            <form method="get" action="/" class="filters">
            <input type="hidden" name="queue" value="\(HTMLPage.esc(queue))">
            <label for="status-filter">Status</label> <select id="status-filter" name="status">\(statusOptions)</select>
            <label for="agent-filter">Agent</label> <input id="agent-filter" name="agent" type="text" value="\(HTMLPage.esc(filter.agent ?? ""))" placeholder="any">
            <label for="newer-filter">Created within</label> <select id="newer-filter" name="newer_than">\(ageOptions("newer_than", ago: false))</select>
            <label for="older-filter">Created before</label> <select id="older-filter" name="older_than">\(ageOptions("older_than", ago: true))</select>
            <button type="submit">Filter</button>
            </form>
            \(HTMLPage.table("", id: "tasks", headers: ["task", "status", "agent", "created (UTC)", "worker"], rows: taskRows,
                             empty: filter == TaskListFilter() ? "No tasks." : "No tasks match these filters."))
            \(next)
            </section>
            \(HTMLPage.table("Workers of '\(queue)'", headers: ["worker", "state", "version", "concurrency", "running", "last heartbeat (UTC)"], rows: workerRows, empty: "No worker seen today."))
            \(HTMLPage.table("Dead letters of '\(queue)'", headers: ["task", "reason", "attempts", "at (UTC)", ""], rows: deadRows, empty: "No dead letters."))
            \(purge)
            \(signOut)
            """
        return HTMLPage.page(title: "Overview", csrf: csrf, body: body)
    }

    private func taskPage(_ request: Request, id: String, token: APIToken, csrf: String) async throws -> Response {
        do { try TaskID.validate(id) } catch { throw APIError.badRequest("\(error)", code: "invalid_task_id") }
        let queue = request.query("queue").flatMap { $0.isEmpty ? nil : $0 } ?? configuration.defaultQueue
        let broker = try brokers.broker(queue)
        guard token.sees(broker.keys.queue), let task = try await broker.status(id) else { throw APIError.taskNotFound(id, queue: queue) }
        let q = HTMLPage.esc(queue)
        var buttons: [String] = []
        if token.scope >= .submit {
            if !task.status.isFinished { buttons.append("<button type=\"button\" data-action=\"cancel\" data-task=\"\(id)\" data-queue=\"\(q)\">Cancel</button>") }
            if task.status == .waiting, let pending = task.pending {
                if pending.kind == .approval {
                    buttons.append("<button type=\"button\" data-action=\"approve\" data-task=\"\(id)\" data-queue=\"\(q)\">Approve \(HTMLPage.esc(pending.toolName))</button>")
                } else {
                    buttons.append("<label for=\"reply-text\">Answer</label> <input id=\"reply-text\" type=\"text\"> <button type=\"button\" data-action=\"reply\" data-task=\"\(id)\" data-queue=\"\(q)\">Reply</button>")
                }
                buttons.append("<label for=\"reject-reason\">Reason</label> <input id=\"reject-reason\" type=\"text\"> <button type=\"button\" data-action=\"reject\" data-task=\"\(id)\" data-queue=\"\(q)\">Reject</button>")
            }
        }
        if token.scope >= .admin && (task.status == .failed || task.status == .cancelled) {
            buttons.append("<button type=\"button\" data-action=\"retry\" data-task=\"\(id)\" data-queue=\"\(q)\">Retry</button>")
        }
        var facts: [(String, String)] = [("status", "<span id=\"task-status\" class=\"status \(task.status.rawValue)\">\(task.status.rawValue)</span>"),
                                          ("queue", q),
                                          ("created", HTMLPage.time(task.createdAt?.timeIntervalSince1970)),
                                          ("started", HTMLPage.time(task.startedAt?.timeIntervalSince1970)),
                                          ("completed", HTMLPage.time(task.completedAt?.timeIntervalSince1970)),
                                          ("worker", HTMLPage.esc(task.workerID ?? "-")), ("attempts", "\(task.attempts)")]
        if let pending = task.pending { facts.append(("waits for", HTMLPage.esc(pending.kind == .approval ? "approval of \(pending.toolName) \(pending.arguments.jsonString)" : "an answer to \(pending.question ?? "")"))) }
        if let error = task.error { facts.append(("error", "<span class=\"error\">\(HTMLPage.esc(error))</span>")) }
        for (k, v) in task.metadata.sorted(by: { $0.key < $1.key }) { facts.append(("metadata " + HTMLPage.esc(k), HTMLPage.esc(v))) }
        let output = task.result?["output"]?.stringValue.map { "<section><h2>Output</h2><pre id=\"output\">\(HTMLPage.esc($0))</pre></section>" } ?? ""
        let body = """
            <section><h2>Task <code>\(id)</code></h2>
            <dl class="facts">\(facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined())</dl>
            <div class="actions">\(buttons.joined(separator: " "))</div>
            </section>
            <section><h2>Timeline</h2>
            <ol id="timeline" data-events="/v1/tasks/\(id)/events?queue=\(enc(queue))" aria-live="polite"></ol>
            </section>
            \(output)
            <p><a href="/?queue=\(enc(queue))">← all tasks</a></p>
            \(signOut)
            """
        return HTMLPage.page(title: "Task \(id.prefix(8))", csrf: csrf, body: body)
    }

    private var signOut: String {
        configuration.tokens.isOpen ? "" : "<form method=\"post\" action=\"/ui/logout\" class=\"signout\"><button type=\"submit\">Sign out</button></form>"
    }

    private func runningCount(_ worker: WorkerInfo) -> Int {
        (try? JSONValue.parse(worker.fields["current_tasks"] ?? "[]"))?.arrayValue?.count ?? 0
    }

    private func enc(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
}

/// The dashboard's script and style sheet, shipped as resources (no external assets).
enum DashboardAssets {
    private static let cache: [String: String] = {
        var files: [String: String] = [:]
        for (name, ext) in [("dashboard", "js"), ("dashboard", "css")] {
            if let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Resources"),
               let text = try? String(contentsOf: url, encoding: .utf8) { files[name + "." + ext] = text }
        }
        return files
    }()

    static func text(_ name: String, _ ext: String) -> String { cache[name + "." + ext] ?? "" }
}
