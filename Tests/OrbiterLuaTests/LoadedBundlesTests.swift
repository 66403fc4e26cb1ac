import Testing
import OrbiterCore
@testable import OrbiterLua

@Suite struct LoadedBundlesTests {
    @Test("a bundle is found while something loaded from it is alive, and forgotten after")
    func bundlesLiveAsLongAsTheirRuntimes() async throws {
        var runtime: LuaRuntime? = try load(toolScript("-- \(UInt64.random(in: 0...UInt64.max))"))
        let sha = try #require(runtime?.bundle.sha256)
        var root: Runnable? = try runtime!.root()
        #expect(LoadedBundles.bundle(sha256: sha)?.sha256 == sha)
        runtime = nil
        // The agent's Lua model keeps the runtime, so the bundle can still be shipped with it.
        #expect(try LoadedBundles.bundle(for: root!)?.sha256 == sha)
        root = nil
        #expect(LoadedBundles.bundle(sha256: sha) == nil, "nothing uses the script any more")
    }

    @Test("hundreds of scripts loaded one after another do not push out the one in use")
    func manyScriptsDoNotEvictALiveOne() async throws {
        let kept = try load(toolScript("-- kept \(UInt64.random(in: 0...UInt64.max))"))
        for i in 0..<300 { _ = try load(toolScript("-- passing \(i) \(UInt64.random(in: 0...UInt64.max))")) }
        #expect(LoadedBundles.bundle(sha256: kept.bundle.sha256) != nil)
    }
}
