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
