import Foundation
import OrbiterCore
import OrbiterQueue

/// Follows a batch until every task has ended (`submit --batch --wait`): the statuses of the
/// tasks not yet ended are read in pipelined chunks a few times a second — no subscription per
/// task. On a terminal, stderr shows a progress bar redrawn in place (done, failed, running,
/// rate, ETA); otherwise a plain line every few seconds.
struct BatchProgress {
    let broker: TaskBroker
    let ids: [String]
    /// Give up after this many seconds (`--wait-timeout`).
    let timeout: Double?
    let live = Terminal.stderrIsTTY

    struct Summary {
        var completed = 0
        var failed: [String] = []
        var cancelled: [String] = []
        /// Tasks that no longer exist (expired or purged while waited for).
        var missing: [String] = []
        /// Not ended when the wait gave up.
        var unfinished = 0

        var ok: Bool { failed.isEmpty && cancelled.isEmpty && missing.isEmpty && unfinished == 0 }
    }

    func run() async throws -> Summary {
        var summary = Summary()
        var open = ids
        let started = ContinuousClock.now
        let deadline = timeout.map { started + .milliseconds(Int64($0 * 1000)) }
        var lastLine = started
        var running = 0
        while !open.isEmpty {
            let statuses = try await broker.statuses(open)
            var still: [String] = []
            running = 0
            for (id, status) in zip(open, statuses) {
                switch status {
                case .completed?: summary.completed += 1
                case .failed?: summary.failed.append(id)
                case .cancelled?: summary.cancelled.append(id)
                case nil: summary.missing.append(id)
                case .running?:
                    running += 1
                    still.append(id)
                default: still.append(id)
                }
            }
            open = still
            let now = ContinuousClock.now
            if live {
                Terminal.err("\r\u{1B}[2K" + line(summary, running: running, elapsed: now - started, bar: true))
            } else if open.isEmpty || now - lastLine >= .seconds(2) {
                Terminal.err("orbiter: " + line(summary, running: running, elapsed: now - started, bar: false) + "\n")
                lastLine = now
            }
            if open.isEmpty { break }
            if let deadline, now >= deadline {
                summary.unfinished = open.count
                break
            }
            try await Task.sleep(for: .milliseconds(live ? 200 : 500))
        }
        if live { Terminal.err("\n") }
        return summary
    }

    /// `[████░░░░] 4210/10000 done · 3 failed · 64 running · 1950/s · ETA 3 s`
    private func line(_ s: Summary, running: Int, elapsed: Duration, bar: Bool) -> String {
        let failed = s.failed.count + s.cancelled.count + s.missing.count
        let done = s.completed + failed
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let eta = rate > 0 && done < ids.count ? String(format: " · ETA %.0f s", Double(ids.count - done) / rate) : ""
        var text = "\(done)/\(ids.count) done · \(failed) failed · \(running) running · \(Int(rate.rounded()))/s\(eta)"
        if bar {
            let width = 24, filled = ids.isEmpty ? width : width * done / ids.count
            text = "[" + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + "] " + text
        }
        return text
    }
}
