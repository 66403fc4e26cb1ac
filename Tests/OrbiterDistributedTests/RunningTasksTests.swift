@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import Synchronization
import Testing

/// The worker's table of running tasks: the timeout sweep stops each overdue task once.
@Suite("Running tasks")
struct RunningTasksTests {
    @Test("the timeout sweep stops only overdue tasks, each once")
    func theSweepStopsOnlyOverdueTasksAndEachOnce() {
        let running = RunningTasks()
        let stopped = Mutex<[String: [StopReason]]>([:])
        func add(_ id: String, _ deadline: ContinuousClock.Instant?) {
            running.add(id, entryID: "1-\(id)", lease: "l", deadline: deadline) { reason in stopped.withLock { $0[id, default: []].append(reason) } }
        }
        let start = ContinuousClock.now
        add("soon", start + .milliseconds(10))
        add("later", start + .seconds(3600))
        add("never", nil)
        running.stopOverdue(now: start)
        #expect(stopped.withLock { $0.isEmpty }, "nothing is due yet")
        running.stopOverdue(now: start + .milliseconds(20))
        running.stopOverdue(now: start + .milliseconds(30))
        #expect(stopped.withLock { $0 } == ["soon": [.timeout]])
        // A task added after a sweep with an earlier deadline than the rest is still found.
        add("new", start + .milliseconds(40))
        running.stopOverdue(now: start + .milliseconds(50))
        #expect(stopped.withLock { $0["new"] } == [.timeout])
        running.stopOverdue(now: start + .seconds(3601))
        #expect(stopped.withLock { $0.keys.sorted() } == ["later", "new", "soon"])
        #expect(running.count == 4, "stopping does not remove; the task's own end does")
    }
}
