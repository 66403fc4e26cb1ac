import OrbiterCore
import OrbiterLua

extension RunCommand {
    /// `orbiter run --watch`: runs, then waits for the script, a module it requires or a tool
    /// file to change and runs again, until interrupted. A script that fails to load prints
    /// `path:line: message` and is retried after the next change.
    func watchLoop(folder: ToolFolder?, access: HostAccess) async throws {
        let text = try resolveInput(input)
        let reloader = ScriptReloader(path: script, access: access)
        while true {
            await folder?.scan()
            switch reloader.refresh() {
            case .failed(let message):
                Terminal.error(message)
            case .reloaded, .unchanged:
                if let runtime = reloader.runtime {
                    do {
                        _ = try await runOnce(try await runtime.boundRoot(hostTools: folder?.registry.snapshot() ?? [:]), input: text)
                    } catch {
                        Terminal.error("\(reloader.name): \(errorMessage(error))")
                    }
                }
            }
            Terminal.err(Terminal.dim("── watching \(reloader.name) for changes (Ctrl-C to stop) ──") + "\n")
            try await waitForChange(reloader, folder: folder)
            Terminal.err(Terminal.dim("── change detected: running \(reloader.name) again ──") + "\n")
        }
    }

    /// Returns when the script's files or the tool folder's files change (polling every 200 ms).
    private func waitForChange(_ reloader: ScriptReloader, folder: ToolFolder?) async throws {
        let (paths, scriptBaseline) = reloader.watched
        let toolFiles = folder.map { FileWatcher.luaFiles(in: $0.directory) } ?? []
        let baseline = scriptBaseline.merging(FileWatcher.fingerprints(toolFiles)) { old, _ in old }
        while FileWatcher.fingerprints(paths + toolFiles) == baseline,
              folder.map({ FileWatcher.luaFiles(in: $0.directory) == toolFiles }) ?? true {
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
