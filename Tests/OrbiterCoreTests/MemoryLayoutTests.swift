import Testing
import OrbiterCore

/// Sizes that the memory of tasks in flight depends on (issue 21): every `emit` in an async
/// function keeps a `StreamEvent` in that function's frame, which stays allocated while the run
/// sleeps, so the event is one pointer to its boxed case (`indirect`), not the largest case inline.
@Suite struct MemoryLayoutTests {
    @Test("a StreamEvent is one pointer, not its largest case inline")
    func streamEventIsSmall() {
        #expect(MemoryLayout<StreamEvent>.size <= 8, "StreamEvent is \(MemoryLayout<StreamEvent>.size) bytes: is it still indirect?")
        // What it would be inline: the largest case is hundreds of bytes.
        #expect(MemoryLayout<StatusEvent>.size > 64)
    }

    @Test("boxed events compare, hash and switch by value")
    func boxedEventsAreValues() {
        let a = StreamEvent.status(StatusEvent(status: .completed, agentName: "a", message: "done"))
        var b = a
        #expect(a == b && a.hashValue == b.hashValue)
        b = .status(StatusEvent(status: .completed, agentName: "a", message: "other"))
        #expect(a != b)
        #expect(a.isTerminal && a.type == "status" && a.agentName == "a")
        let events: [StreamEvent] = [.text(TextEvent(text: "t", agentName: "x")), a, .reasoning(ReasoningEvent(text: "r", agentName: "x"))]
        #expect(events.map(\.type) == ["text", "status", "reasoning"])
        #expect(Set(events).count == 3)
    }
}
