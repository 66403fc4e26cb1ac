import Foundation
import OrbiterCore

/// A script and every module it `require`s, content-addressed by SHA-256.
///
/// This is what travels to workers (stored once in Redis under its hash, like EVALSHA), so a
/// worker needs no copy of the user's files, and an edited script is simply a new bundle.
public struct ScriptBundle: Sendable, Hashable {
    /// Path of the entry script inside the bundle, e.g. `weather.lua`.
    public let entry: String
    /// Module path inside the bundle (`lib/util.lua`) → source text; includes the entry.
    public let modules: [String: String]
    /// SHA-256 of `jsonString`, in hex.
    public let sha256: String

    public init(entry: String, modules: [String: String]) {
        self.entry = entry
        self.modules = modules
        self.sha256 = ContentHash.sha256Hex(Self.canonical(entry: entry, modules: modules))
    }

    private static func canonical(entry: String, modules: [String: String]) -> String {
        JSONValue.object(["entry": .string(entry), "modules": .object(modules.mapValues(JSONValue.string))]).jsonString
    }

    /// `{"entry": ..., "modules": {...}}`, keys sorted: the bytes the hash is taken over.
    public var jsonString: String { Self.canonical(entry: entry, modules: modules) }

    /// Reads a bundle from its JSON text; when `expectedSHA256` is given, the content must hash to it.
    public init(jsonText: String, expectedSHA256: String? = nil) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(jsonText) } catch { throw LuaError(message: "script bundle is not valid JSON: \(error)") }
        guard let entry = json["entry"]?.stringValue, let members = json["modules"]?.objectValue else {
            throw LuaError(message: "script bundle must have 'entry' (string) and 'modules' (object)")
        }
        var modules: [String: String] = [:]
        for (path, source) in members {
            guard let text = source.stringValue else { throw LuaError(message: "script bundle module '\(path)' is not a string") }
            modules[path] = text
        }
        guard modules[entry] != nil else { throw LuaError(message: "script bundle has no source for its entry '\(entry)'") }
        self.init(entry: entry, modules: modules)
        if let expectedSHA256, expectedSHA256 != sha256 {
            throw LuaError(message: "script bundle content does not match its hash (expected \(expectedSHA256), got \(sha256))")
        }
    }

    /// The bundle path a module name maps to, tried in order: `a.b` → `a/b.lua`, `a/b/init.lua`.
    static func candidatePaths(forModule name: String) -> [String] {
        let base = name.replacingOccurrences(of: ".", with: "/")
        return [base + ".lua", base + "/init.lua"]
    }

    /// Module names in `require "name"` / `require("name")` calls with a literal name.
    static func requiredNames(in source: String) -> [String] {
        var names: [String] = []
        let scalars = Array(source.utf8)
        let word = Array("require".utf8)
        var i = 0
        while i + word.count < scalars.count {
            if scalars[i] == word[0], Array(scalars[i..<(i + word.count)]) == word,
               i == 0 || !isIdentifierByte(scalars[i - 1]) {
                var j = i + word.count
                while j < scalars.count, scalars[j] == 0x20 || scalars[j] == 0x09 || scalars[j] == 0x28 { j += 1 }
                if j < scalars.count, scalars[j] == 0x22 || scalars[j] == 0x27 {
                    let quote = scalars[j]
                    var k = j + 1
                    while k < scalars.count, scalars[k] != quote, scalars[k] != 0x0A { k += 1 }
                    if k < scalars.count, scalars[k] == quote {
                        names.append(String(decoding: scalars[(j + 1)..<k], as: UTF8.self))
                    }
                    i = k
                }
            }
            i += 1
        }
        return names
    }

    private static func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95
    }
}

/// Where a Lua state finds the modules a script requires, recording what it found so the
/// script's bundle is complete.
final class ModuleSource: @unchecked Sendable {
    // Only touched from the owning LuaRuntime's isolation (through the state's host calls).
    private(set) var modules: [String: String]
    let entry: String
    /// The folder files are read from, or `nil` when only the bundle's modules exist.
    let directory: URL?
    /// How paths are shown in error messages (the folder as the user wrote it, or empty).
    let displayPrefix: String

    init(bundle: ScriptBundle) {
        modules = bundle.modules
        entry = bundle.entry
        directory = nil
        displayPrefix = ""
    }

    /// Reads the entry script and, transitively, the modules it requires by literal name.
    init(entryFile path: String) throws {
        let url = URL(fileURLWithPath: path)
        directory = url.deletingLastPathComponent()
        entry = url.lastPathComponent
        let dir = (path as NSString).deletingLastPathComponent
        displayPrefix = dir.isEmpty ? "" : dir + "/"
        let text = try LuaSourceText.read(path: path)
        modules = [entry: text]
        var queue = ScriptBundle.requiredNames(in: text)
        var seen = Set<String>()
        while let name = queue.popLast() {
            guard seen.insert(name).inserted, let (relative, source) = try readFromDisk(name) else { continue }
            modules[relative] = source
            queue += ScriptBundle.requiredNames(in: source)
        }
    }

    var bundle: ScriptBundle { ScriptBundle(entry: entry, modules: modules) }

    func chunkName(_ relative: String) -> String { displayPrefix + relative }

    /// A module's file from the script's folder: `nil` when there is none, an error when it exists
    /// but is not Lua source.
    private func readFromDisk(_ name: String) throws -> (String, String)? {
        guard let directory, name != "orbiter" else { return nil }
        for relative in ScriptBundle.candidatePaths(forModule: name) {
            let file = directory.appendingPathComponent(relative).path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            return (relative, try LuaSourceText.read(path: file, shownAs: chunkName(relative)))
        }
        return nil
    }

    /// The source and chunk name of module `name`, or a message saying where it was looked for.
    func find(_ name: String) -> Result<(source: String, chunkName: String), LuaError> {
        do {
            var found = ScriptBundle.candidatePaths(forModule: name).lazy.compactMap { relative in
                self.modules[relative].map { (relative, $0) }
            }.first
            if found == nil, let fromDisk = try readFromDisk(name) {
                modules[fromDisk.0] = fromDisk.1
                found = fromDisk
            }
            if let (relative, source) = found {
                return .success((try LuaSourceText.prepared(source, chunkName: chunkName(relative)), chunkName(relative)))
            }
        } catch {
            return .failure(error as? LuaError ?? LuaError(message: "\(error)"))
        }
        let tried = ScriptBundle.candidatePaths(forModule: name).map { chunkName($0) }.joined(separator: ", ")
        return .failure(LuaError(message: "module '\(name)' not found (looked for \(tried)\(directory == nil ? " in the script bundle" : ""))"))
    }
}
