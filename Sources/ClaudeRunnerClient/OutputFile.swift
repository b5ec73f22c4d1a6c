import Foundation

/// `--output-file`: where the client also writes Claude's output.
public enum OutputFile {
    /// A relative path is resolved under `$GITHUB_WORKSPACE` when that is set (as in a GitHub Action).
    public static func resolve(_ path: String, environment: [String: String]) -> String {
        if path.hasPrefix("/") { return path }
        if let workspace = environment["GITHUB_WORKSPACE"], !workspace.isEmpty {
            return (workspace as NSString).appendingPathComponent(path)
        }
        return path
    }

    /// Writes `text`, creating parent directories.
    public static func write(_ text: String, to path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}
