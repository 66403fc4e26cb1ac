import Foundation

/// What identifies one version of a file without reading it: inode, size and modification time.
/// An editor that saves by rename changes the inode; one that writes in place changes mtime/size.
public struct FileFingerprint: Sendable, Hashable {
    let inode: UInt64
    let size: Int64
    let modifiedNanoseconds: Int64

    /// The file's fingerprint now, or `nil` when it does not exist (or cannot be read).
    public static func of(_ path: String) -> FileFingerprint? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let mtime = info.st_mtimespec
        #else
        let mtime = info.st_mtim
        #endif
        return FileFingerprint(inode: UInt64(info.st_ino), size: Int64(info.st_size),
                               modifiedNanoseconds: Int64(mtime.tv_sec) * 1_000_000_000 + Int64(mtime.tv_nsec))
    }
}

/// Polls a set of files for changes. Polling (every ~250 ms) instead of inotify keeps it portable
/// and simple; `stat` on a handful of files costs microseconds.
public enum FileWatcher {
    /// Fingerprints of `paths` now; missing files are absent from the result.
    public static func fingerprints(_ paths: some Sequence<String>) -> [String: FileFingerprint] {
        var result: [String: FileFingerprint] = [:]
        for path in paths { if let f = FileFingerprint.of(path) { result[path] = f } }
        return result
    }

    /// The `*.lua` files directly inside `directory`, sorted, as `directory/name` paths.
    public static func luaFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return names.filter { $0.hasSuffix(".lua") && !$0.hasPrefix(".") }.sorted().map { prefix + $0 }
    }

    /// Returns once any of `paths` differs from `baseline` (changed, added or removed), checking
    /// every `interval`. Throws `CancellationError` when the waiting task is cancelled.
    public static func waitForChange(of paths: [String], from baseline: [String: FileFingerprint],
                                     every interval: Duration = .milliseconds(200)) async throws {
        while fingerprints(paths) == baseline {
            try await Task.sleep(for: interval)
        }
    }
}
