extension ConfigLoader {
    /// The mirror root must be apart from `workDir`: a run without a repo has Claude work in `workDir` itself,
    /// where mirrors would be in its reach, and a mirror root holding `workDir` would mix run workspaces with
    /// the mirrors that eviction manages.
    ///
    /// A `git.mirrorDir` the file sets that is not apart is an error. When only the default is in the way (a
    /// `workDir` that holds `<path>/mirrors`, as a config written for the original may have), warm workspaces
    /// are turned off instead, as the original has none, with a warning saying how to turn them on.
    /// - Returns: The warning, when mirrors were turned off.
    /// - Throws: ``ConfigError`` naming `git.mirrorDir` and its line.
    static func checkMirrorDirectory(
        _ config: inout RunnerConfig, file: String, lines: [String: Int]
    ) throws -> String? {
        guard config.git.mirrors else { return nil }
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
            return nil
        }
        guard config.git.mirrorDir != nil else {
            config.git.mirrors = false
            return "\(file): warm workspaces are off: \(problem); set git.mirrorDir outside workDir to turn them on"
        }
        throw ConfigError(
            file: file, line: lines["git.mirrorDir"] ?? lines["workDir"], key: "git.mirrorDir",
            problem: "\(problem): set git.mirrorDir outside workDir, or git.mirrors: false")
    }
}
