import Testing
import OrbiterCore

@Suite struct LRUCacheTests {
    @Test("the least recently used entry goes when the cache is full")
    func evictsLeastRecentlyUsed() {
        let cache = LRUCache<String, Int>(capacity: 3)
        cache.insert(1, for: "a")
        cache.insert(2, for: "b")
        cache.insert(3, for: "c")
        #expect(cache["a"] == 1) // a is now the most recent; b the least
        cache.insert(4, for: "d")
        #expect(cache["b"] == nil)
        #expect(cache["a"] == 1 && cache["c"] == 3 && cache["d"] == 4)
        #expect(cache.count == 3)
    }

    @Test("a second insert for a key keeps the first value (two loads raced)")
    func firstInsertWins() {
        let cache = LRUCache<String, Int>(capacity: 2)
        #expect(cache.insert(1, for: "k") == 1)
        #expect(cache.insert(2, for: "k") == 1)
        #expect(cache["k"] == 1)
    }

    @Test("a hot entry survives any number of cold ones passing through")
    func hotEntrySurvives() {
        let cache = LRUCache<Int, Int>(capacity: 4)
        cache.insert(-1, for: -1)
        for i in 0..<1000 {
            #expect(cache[-1] == -1)
            cache.insert(i, for: i)
        }
        #expect(cache.count == 4)
    }
}

@Suite struct BackoffTests {
    @Test("delays double from the first up to the maximum, and a success starts over")
    func doublesUpToTheMaximumAndResets() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect((0..<6).map { _ in backoff.next() } == [.milliseconds(100), .milliseconds(200), .milliseconds(400),
                                                         .milliseconds(800), .seconds(1), .seconds(1)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
        // A huge failure count neither overflows nor passes the maximum.
        #expect(backoff.delay(afterFailure: 10_000) == .seconds(1))
    }

    @Test("jitter stays inside its range")
    func jitterStaysInRange() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0.5...1.0)
        for failure in 1...5 {
            let ceiling = min(Duration.seconds(1 << (failure - 1)), .seconds(8))
            let delay = backoff.delay(afterFailure: failure)
            #expect(delay >= ceiling / 2 && delay <= ceiling)
        }
    }

    @Test("durations convert to seconds, milliseconds and nanoseconds")
    func durationConversions() {
        let d = Duration.milliseconds(1500)
        #expect(d.inSeconds == 1.5)
        #expect(d.inMilliseconds == 1500)
        #expect(d.inNanoseconds == 1_500_000_000)
    }
}
