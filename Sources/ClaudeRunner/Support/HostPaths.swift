/// Takes host paths out of text that leaves the machine (events, comments, Result fields): the run's
/// workspace becomes relative (`.` for the workspace itself), an issue's task root `<workspace>`, the
/// workspace root `<workspace-root>`, the runner's home directory `~`.
public struct HostPaths: Sendable {
    public var workspace: String?
    public var taskRoot: String?
    public var workRoot: String
    public var home: String?

    public init(workspace: String? = nil, taskRoot: String? = nil, workRoot: String, home: String?) {
        self.workspace = workspace.map(Self.trimmed)
        self.taskRoot = taskRoot.map(Self.trimmed)
        self.workRoot = Self.trimmed(workRoot)
        self.home = home.map(Self.trimmed)
    }

    public func scrub(_ text: String) -> String {
        guard text.containsBytes(of: "/") else { return text }
        var result = text
        if let workspace, workspace.count > 1, result.containsBytes(of: workspace) {
            result = result.replacingOccurrences(of: workspace + "/", with: "")
            result = result.replacingOccurrences(of: workspace, with: ".")
        }
        if let taskRoot, taskRoot.count > 1, result.containsBytes(of: taskRoot) {
            result = result.replacingOccurrences(of: taskRoot, with: "<workspace>")
        }
        if workRoot.count > 1, result.containsBytes(of: workRoot) {
            result = result.replacingOccurrences(of: workRoot, with: "<workspace-root>")
        }
        if let home, home.count > 1, result.containsBytes(of: home) {
            result = result.replacingOccurrences(of: home, with: "~")
        }
        return result
    }

    private static func trimmed(_ path: String) -> String {
        var path = path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }
}
