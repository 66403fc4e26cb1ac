/// This build's version, shown by `orbiter --version` and reported by workers in their heartbeat.
public enum OrbiterVersion {
    /// Semantic version of the package.
    public static let current = "0.2.0"
}
