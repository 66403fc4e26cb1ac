import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import Testing

/// Tasks that wait for a person park on the worker: `waiting`, holding no slot, until a reply
/// (approve, reject, answer) puts them back on the queue for any worker to resume.
@Suite("Parking", .serialized)
struct ParkingTests {
    /// examples/approval.lua: "Refund N" asks for approval of refund {amount = N}; a message
    /// without an amount first asks "How much should be refunded?".
    static func approvalAgent() throws -> Runnable {
        try load(OrbiterBinary.repositoryRoot.appendingPathComponent("examples/approval.lua").path).1
    }

    static func waitUntilParked(_ handle: TaskHandle, timeout: Duration = .seconds(15)) async throws {
        try await eventually("task \(handle.taskID) to park", timeout: timeout) { try await handle.status()?.status == .waiting }
    }

    static func events(_ handle: TaskHandle, fixture: DistributedFixture) async throws -> [StreamEvent] {
        try await EventSubscriber(fixture.redisURL, queue: fixture.queue).replay(handle.taskID).map(\.event)
    }

    static func statuses(_ events: [StreamEvent], _ status: StatusEvent.Status) -> [StatusEvent] {
        events.compactMap { if case .status(let s) = $0, s.status == status { return s } else { return nil } }
    }

    @Test("with concurrency 1, three approval tasks all park (the slot is freed); replies resume them in any order")
    func threeParkOnOneSlot() async throws {
        try await withDistributedFixture { fixture in
            let agent = try Self.approvalAgent()
            let broker = try fixture.broker()
            try fixture.startWorker(concurrency: 1)
            var handles: [TaskHandle] = []
            for amount in [10, 20, 30] { handles.append(try await distributed(agent, "Refund \(amount)", broker: broker)) }
            for handle in handles { try await Self.waitUntilParked(handle) }
            let stats = try await broker.stats()
            #expect(stats.waiting == 3 && stats.running == 0 && stats.pending == 0, "\(stats)")
            let listed = try await broker.list(status: .waiting)
            #expect(Set(listed.map(\.taskID)) == Set(handles.map(\.taskID)))
            let pending = try #require(try await handles[0].pendingInput())
            #expect(pending.kind == .approval && pending.toolName == "refund" && pending.arguments == ["amount": 10])
            #expect(listed.allSatisfy { $0.waitingUntil.map { $0.timeIntervalSinceNow > 86_000 } == true }, "the default wait is a day")

            try await handles[2].approve()
            try await handles[0].reject(reason: "too much")
            try await handles[1].approve()
            #expect(try await handles[2].result(timeout: .seconds(15))["output"] == "Done: refunded 30.")
            #expect(try await handles[0].result(timeout: .seconds(15))["output"] == "No refund: rejected: too much.")
            #expect(try await handles[1].result(timeout: .seconds(15))["output"] == "Done: refunded 20.")
            for handle in handles {
                let events = try await Self.events(handle, fixture: fixture)
                #expect(events.filter(\.isTerminal).count == 1)
                let waiting = Self.statuses(events, .waitingForInput)
                #expect(waiting.count == 1)
                #expect(waiting.first?.pending?.toolName == "refund" && waiting.first?.pending?.toolCallID.isEmpty == false)
                #expect(Self.statuses(events, .resumed).count == 1)
                let state = try await handle.status()
                #expect(state?.attempts == 2 && state?.pending == nil)
            }
            #expect(try await broker.stats().waiting == 0)
        }
    }

    @Test("a question is answered on a worker, then the approval; the answer is the tool's result")
    func questionThenApproval() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker(concurrency: 1)
            let handle = try await distributed(try Self.approvalAgent(), "I want a refund", redisURL: fixture.redisURL, queue: fixture.queue)
            try await Self.waitUntilParked(handle)
            let question = try #require(try await handle.pendingInput())
            #expect(question.kind == .question && question.question == "How much should be refunded?" && question.toolName == "ask_amount")
            await #expect(throws: DistributedError.replyDoesNotFit(id: handle.taskID, waitsFor: .question)) { try await handle.approve() }
            try await handle.reply("12 euros")
            try await eventually("the approval") { try await handle.pendingInput()?.kind == .approval }
            #expect(try await handle.pendingInput()?.arguments == ["amount": 12])
            try await handle.approve()
            #expect(try await handle.result(timeout: .seconds(15))["output"] == "Done: refunded 12.")
            let events = try await Self.events(handle, fixture: fixture)
            #expect(Self.statuses(events, .waitingForInput).map { $0.pending?.kind } == [.question, .approval])
            #expect(Self.statuses(events, .resumed).map(\.message) == ["resumed after input (answered)", "resumed after input (approved)"])
            #expect(events.filter(\.isTerminal).count == 1)
        }
    }

    @Test("a parked task nobody answers fails with InputTimeout after its wait timeout, dead-lettered, with one terminal event")
    func waitTimeout() async throws {
        try await withDistributedFixture { fixture in
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: 1)
            configuration.waitSweepInterval = .milliseconds(100)
            try fixture.start(configuration)
            let broker = try fixture.broker()
            let handle = try await distributed(try Self.approvalAgent(), "Refund 5", broker: broker, waitTimeout: 0.5)
            try await Self.waitUntilParked(handle)
            await #expect(throws: DistributedError.self) { _ = try await handle.result(timeout: .seconds(10)) }
            let state = try #require(try await handle.status())
            #expect(state.status == .failed)
            #expect(state.error == "no reply from a person within 0.5 s (the task's wait timeout)")
            let events = try await Self.events(handle, fixture: fixture)
            #expect(events.contains { if case .error(let e) = $0 { return e.errorType == "InputTimeout" } else { return false } })
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(try await broker.deadLetters().contains { $0.taskID == handle.taskID })
            #expect(try await broker.stats().waiting == 0)
            await #expect(throws: DistributedError.notWaitingForInput(id: handle.taskID, status: .failed)) { try await handle.approve() }
        }
    }

    @Test("cancel ends a parked task at once; a reply after it is refused")
    func cancelParked() async throws {
        try await withDistributedFixture { fixture in
            try fixture.startWorker(concurrency: 1)
            let broker = try fixture.broker()
            let handle = try await distributed(try Self.approvalAgent(), "Refund 5", broker: broker)
            try await Self.waitUntilParked(handle)
            #expect(try await handle.cancel() == .cancelled)
            await #expect(throws: DistributedError.taskCancelled(handle.taskID)) { _ = try await handle.result(timeout: .seconds(5)) }
            #expect(try await broker.reply(handle.taskID, .approved) == .notWaiting(.cancelled))
            let events = try await Self.events(handle, fixture: fixture)
            #expect(events.filter(\.isTerminal).count == 1)
            #expect(Self.statuses(events, .cancelled).first?.message == "cancelled while waiting for input")
            #expect(try await broker.stats().waiting == 0)
            #expect(try await handle.cancel() == .alreadyFinished(.cancelled))
        }
    }

    @Test("a reply to a task that is not waiting is refused and changes nothing; a second reply does not resume it twice")
    func refusedReplies() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let agent = try Self.approvalAgent()
            let queued = try await distributed(agent, "Refund 1", broker: broker)
            #expect(try await broker.reply(queued.taskID, .approved) == .notWaiting(.pending), "no worker yet: still pending")
            #expect(try await broker.reply(TaskID.make(), .approved) == .notFound)
            await #expect(throws: DistributedError.self) { try await TaskHandle(taskID: TaskID.make(), redisURL: fixture.redisURL, queue: fixture.queue).approve() }
            try fixture.startWorker(concurrency: 1)
            try await Self.waitUntilParked(queued)
            #expect(try await broker.reply(queued.taskID, .answer("yes")) == .mismatch(waitsFor: .approval))
            #expect(try await queued.status()?.status == .waiting, "a mismatched reply changed nothing")
            async let first = broker.reply(queued.taskID, .approved)
            async let second = broker.reply(queued.taskID, .rejected(reason: "late"))
            let outcomes = try await [first, second]
            #expect(outcomes.filter { $0 == .resumed }.count == 1, "\(outcomes)")
            let output = try await queued.result(timeout: .seconds(15))["output"]?.stringValue ?? ""
            #expect(output == "Done: refunded 1." || output == "No refund: rejected: late.")
            let events = try await Self.events(queued, fixture: fixture)
            #expect(Self.statuses(events, .resumed).count == 1)
            #expect(try await broker.reply(queued.taskID, .approved) == .notWaiting(.completed))
        }
    }

    @Test("a worker killed while its task is parked loses nothing: another worker resumes it after the reply")
    func workerKilledWhileParked() async throws {
        try await withDistributedFixture { fixture in
            let doomed = try OrbiterBinary.start(["start", "worker", "--queue", fixture.queue, "--concurrency", "1", "--worker-id", "doomed"],
                                                 environment: ["ORBITER_REDIS_URL": fixture.redisURL])
            defer { doomed.signal(SIGKILL) }
            try await doomed.waitFor { _, err in err.contains("worker doomed started") }
            let handle = try await distributed(try Self.approvalAgent(), "Refund 9", redisURL: fixture.redisURL, detailed: true,
                                               queue: fixture.queue)
            try await Self.waitUntilParked(handle)
            doomed.signal(SIGKILL)
            _ = try await doomed.finish()
            try await handle.approve()
            try fixture.start(WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, workerID: "rescuer", leaseSeconds: 1))
            #expect(try await handle.result(timeout: .seconds(15))["output"] == "Done: refunded 9.")
            let state = try await handle.status()
            #expect(state?.workerID == "rescuer")
            let events = try await Self.events(handle, fixture: fixture)
            #expect(events.filter(\.isTerminal).count == 1)
            let runs = events.filter { if case .toolResult(let r) = $0 { return r.toolName == "refund" } else { return false } }
            #expect(runs.count == 1)
        }
    }

    @Test("park.lua parks only under the run's lease, and hands back a cancel requested meanwhile; expire.lua waits for the deadline")
    func parkScript() async throws {
        try await withDistributedFixture { fixture in
            let broker = try fixture.broker()
            let handle = try await distributed(try Self.approvalAgent(), "Refund 2", broker: broker)
            let started = try await startAsGhost(broker)
            let request = InputRequest(kind: .approval, agentName: "support", toolName: "refund", toolCallID: "c1", arguments: ["amount": 2])
            #expect(try await broker.park(handle.taskID, request: request, checkpoint: "", waitTimeout: 60, workerID: "ghost",
                                          lease: "not-the-lease") == .notOwned)
            #expect(try await handle.status()?.status == .running, "nothing changed")
            #expect(try await broker.park(handle.taskID, request: request, checkpoint: "", waitTimeout: 60, workerID: "ghost",
                                          lease: started[0].lease) == .parked)
            let parked = try #require(try await handle.status())
            #expect(parked.status == .waiting && parked.pending == request)
            #expect(try await broker.client.send(["XLEN", broker.keys.stream]).int == 0, "the queue entry is gone: no slot, no takeover")
            #expect(try await broker.client.send(["HGET", broker.keys.task(handle.taskID), "lease"]).isNull)
            #expect(try await broker.expireWait(handle.taskID, agentName: "support", waited: 60) == false, "not due yet")
            #expect(try await broker.expireWait(handle.taskID, agentName: "support", waited: 60, now: TaskBroker.nowMs() + 61_000))
            #expect(try await handle.status()?.status == .failed)
            #expect(try await broker.expireWait(handle.taskID, agentName: "support", waited: 60, now: TaskBroker.nowMs() + 61_000) == false)

            let second = try await distributed(try Self.approvalAgent(), "Refund 3", broker: broker)
            let lease = try await startAsGhost(broker)[0].lease
            #expect(try await second.cancel() == .cancelling)
            #expect(try await broker.park(second.taskID, request: request, checkpoint: "", waitTimeout: 60, workerID: "ghost",
                                          lease: lease) == .cancel)
            #expect(try await second.status()?.status == .running, "the caller finishes it cancelled")
        }
    }

    @Test("a team member's approval parks the whole team and resumes inside the delegation, once")
    func teamDelegation() async throws {
        try await withDistributedFixture { fixture in
            let (_, team) = try load(try temporaryScript("""
                local orbiter = require "orbiter"
                local refund = orbiter.tool { name = "refund", parameters = { amount = "integer" }, approval = true,
                  run = function(args) return "refunded " .. args.amount end }
                local clerk_model = orbiter.model { name = "clerk", respond = function(req)
                  local last = req.messages[#req.messages]
                  if last.role == "tool" then return "clerk: " .. last.content end
                  return { tool_calls = { { name = "refund", arguments = { amount = 3 } } } }
                end }
                local lead_model = orbiter.model { name = "lead", respond = function(req)
                  local last = req.messages[#req.messages]
                  if last.role == "tool" then return "lead: " .. last.content end
                  return { tool_calls = { { name = "delegate_to_clerk", arguments = { task = "refund 3" } } } }
                end }
                local lead = orbiter.agent { name = "lead", model = lead_model }
                local clerk = orbiter.agent { name = "clerk", model = clerk_model, tools = { refund } }
                return orbiter.swarm { name = "desk", agents = { lead, clerk }, mode = "team" }
                """))
            try fixture.startWorker(concurrency: 1)
            let handle = try await distributed(team, "refund please", redisURL: fixture.redisURL, queue: fixture.queue)
            try await Self.waitUntilParked(handle)
            #expect(try await handle.pendingInput()?.agentName == "clerk")
            try await handle.approve()
            #expect(try await handle.result(timeout: .seconds(15))["output"] == "lead: clerk: refunded 3")
            let events = try await Self.events(handle, fixture: fixture)
            #expect(Self.statuses(events, .waitingForInput).count == 1, "the approval was asked once")
        }
    }
}
