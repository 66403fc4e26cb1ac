import OrbiterTools
import Testing

@Suite("OrbiterTools")
struct OrbiterToolsModuleTests {
    @Test("links") func links() { _ = OrbiterTools.self }
}
