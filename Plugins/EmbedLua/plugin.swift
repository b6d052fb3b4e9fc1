import Foundation
import PackagePlugin

/// Embeds every .lua file under lua/ and stdlib/ into the target that uses it.
@main struct EmbedLua: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        var files: [String] = []
        for dir in ["lua", "stdlib"] {
            let base = root.appendingPathComponent(dir)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let url as URL in walker where url.pathExtension == "lua" {
                let rel = url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1)
                files.append(String(rel))
            }
        }
        files.sort()
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedFiles.swift")
        return [.buildCommand(
            displayName: "Embedding \(files.count) Lua files",
            executable: try context.tool(named: "EmbedGen").url,
            arguments: [output.path, root.path] + files,
            inputFiles: files.map { root.appendingPathComponent($0) },
            outputFiles: [output])]
    }
}
