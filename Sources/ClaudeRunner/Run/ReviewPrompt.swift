/// The pull-request context trailer the original runner appends to a review prompt.
public enum ReviewPrompt {
    public static let diffFileName = "claude-runner.diff"

    /// The prompt Claude receives: unchanged without base ref, event and PR number; otherwise followed by
    /// a trailer listing what was given and, when a diff was written, how to use it.
    public static func build(_ request: RunRequest, diffWritten: Bool) -> String {
        let event = request.event ?? ""
        let prNumber = request.prNumber ?? 0
        let baseRef = request.baseRef ?? ""
        let headRef = request.ref ?? ""
        guard !diffWritten, baseRef.isEmpty, event.isEmpty, prNumber == 0 else {
            var prompt = request.prompt + "\n\n" + "Pull request context supplied by claude-runner:\n"
            if !event.isEmpty { prompt += "- Event: \(event)\n" }
            if prNumber != 0 { prompt += "- PR number: \(prNumber)\n" }
            if !baseRef.isEmpty { prompt += "- Base ref: \(baseRef)\n" }
            if !headRef.isEmpty { prompt += "- Head ref: \(headRef)\n" }
            if diffWritten {
                prompt += "- Diff file: \(diffFileName)\n"
                prompt +=
                    "\nUse \(diffFileName) as the authoritative review scope. Review only changes shown in that diff unless the prompt explicitly asks otherwise.\n"
                prompt +=
                    "When citing line numbers, use the Read tool on the file at HEAD to look them up; do not infer line numbers from diff hunk offsets.\n"
            }
            return prompt
        }
        return request.prompt
    }
}
