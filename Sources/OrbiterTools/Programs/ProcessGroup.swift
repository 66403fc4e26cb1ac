import Foundation

/// The process group a program leads (its pid is the group's id), and the ways to end it.
///
/// Signals go to the group only while its leader is unreaped (running, or exited but not yet
/// waited for): until then the group's number cannot belong to anyone else.
struct ProcessGroup: Sendable {
    let leader: pid_t

    /// Whether the leader has exited; it stays unreaped (`WNOWAIT`), so the group's id stays ours.
    var leaderHasExited: Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(leader), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return true }
        return info.si_signo != 0
    }

    /// Sends `signal` to every process of the group.
    func send(_ signal: Int32) {
        _ = kill(-leader, signal)
    }

    /// SIGTERM to the group, up to `grace` for the leader to exit, then SIGKILL to the group
    /// (whatever is left of it: children that ignored SIGTERM, or that outlived their parent).
    /// Runs to the end even when the calling task is cancelled, which is when it is needed.
    func terminate(grace: Duration) async {
        await Task {
            send(SIGTERM)
            let end = ContinuousClock.now + grace
            while !leaderHasExited, ContinuousClock.now < end {
                try? await Task.sleep(for: .milliseconds(10))
            }
            send(SIGKILL)
        }.value
    }

    /// Polls until the leader has exited, or the calling task is cancelled; whether it exited.
    /// Called once its pipes are closed, which is usually a moment before it exits: the first
    /// polls come quickly, later ones (a program that closed its output and runs on) slowly.
    func waitForLeader() async -> Bool {
        var interval = Duration.milliseconds(1)
        while !Task.isCancelled {
            if leaderHasExited { return true }
            try? await Task.sleep(for: interval)
            interval = min(interval * 2, .milliseconds(100))
        }
        return false
    }
}
