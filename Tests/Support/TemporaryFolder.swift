import Foundation

/// A fresh folder under the system's temporary directory, named `prefix-UUID`, holding `files`
/// (path inside the folder → text; subfolders are made as needed). Tests never share one.
public func temporaryFolder(_ prefix: String, files: [String: String] = [:]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for (name, text) in files {
        let url = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
    return dir
}

/// Writes `source` as `name` into a fresh temporary folder, `files` beside it (as `temporaryFolder`
/// takes them), and returns the script's path.
public func temporaryScript(_ source: String, name: String = "main.lua", files: [String: String] = [:],
                            prefix: String = "orbiter-script") throws -> String {
    try temporaryFolder(prefix, files: files.merging([name: source]) { $1 }).appendingPathComponent(name).path
}
