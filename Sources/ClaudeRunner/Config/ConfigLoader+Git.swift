extension ConfigLoader {
    /// The mirror root must be apart from `workDir`: a run without a repo has Claude work in `workDir` itself,
    /// where mirrors would be in its reach, and a mirror root holding `workDir` would mix run workspaces with
    /// the mirrors that eviction manages.
    /// - Throws: ``ConfigError`` naming `git.mirrorDir` (its line when the file sets it, else `workDir`'s).
    static func checkMirrorDirectory(_ config: RunnerConfig, file: String, lines: [String: Int]) throws {
        guard config.git.mirrors else { return }
        let mirrors = config.mirrorDirectory
        let work = config.workDir
        let named = config.git.mirrorDir == nil ? "\(mirrors) (the default, <path>/mirrors)" : mirrors
        func contains(_ outer: String, _ inner: String) -> Bool {
            inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
        }
        let problem: String
        if contains(work, mirrors) {
            problem = "\(named) is inside workDir \(work), where runs without a repo would see the mirrors"
        } else if contains(mirrors, work) {
            problem = "workDir \(work) is inside \(named); the mirrors need a directory of their own"
        } else {
            return
        }
        throw ConfigError(
            file: file, line: lines["git.mirrorDir"] ?? lines["workDir"], key: "git.mirrorDir",
            problem: "\(problem): set git.mirrorDir outside workDir, or git.mirrors: false")
    }
}
