import Foundation
import OrbiterCore
import OrbiterLua

/// Keeps a script loaded from disk and loads it again when it, or a module it requires, changes
/// (`orbiter chat`, `orbiter run --watch`). A failed reload keeps the previous version.
///
/// Used by one task only (not shared), so it needs no locking.
final class ScriptReloader {
    enum Refresh {
        case unchanged
        case reloaded
        /// The script does not load now; the message is `path:line: message`.
        case failed(String)
    }

    let path: String
    /// What the script may reach (a trusted local run's grants).
    let access: HostAccess
    /// The last version that loaded, if any did.
    private(set) var runtime: LuaRuntime?
    /// The files of the last load attempt, as they were just before it.
    private var fingerprints: [String: FileFingerprint] = [:]
    private var attempted = false

    init(path: String, access: HostAccess) {
        self.path = path
        self.access = access
    }

    /// The script's name for messages (`main.lua`).
    var name: String { (path as NSString).lastPathComponent }

    /// Loads the script if it never loaded or changed since the last attempt.
    func refresh() -> Refresh {
        let known = Set(fingerprints.keys).union([path])
        let before = FileWatcher.fingerprints(known)
        if attempted, before == fingerprints { return .unchanged }
        attempted = true
        do {
            let loaded = try LuaRuntime(file: path, options: ScriptLoading.options(for: path, access: access))
            runtime = loaded
            // Modules found by this load are watched from now on.
            let folder = (path as NSString).deletingLastPathComponent
            let files = loaded.bundle.modules.keys.map { folder.isEmpty ? $0 : folder + "/" + $0 }
            let current = Set(files + [path])
            fingerprints = before.filter { current.contains($0.key) }
                .merging(FileWatcher.fingerprints(current.filter { before[$0] == nil })) { old, _ in old }
            return .reloaded
        } catch {
            fingerprints = before
            return .failed(String(describing: error))
        }
    }

    /// The files of the last load attempt and their fingerprints then, to wait for a change.
    var watched: (paths: [String], baseline: [String: FileFingerprint]) {
        (Array(Set(fingerprints.keys).union([path])), fingerprints)
    }
}
