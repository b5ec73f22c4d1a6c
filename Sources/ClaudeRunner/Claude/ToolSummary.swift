import Foundation

/// The one-line description of a tool call that progress events, comments and Results show: the command
/// for Bash, the file for Read/Write/Edit, the pattern for Grep/Glob, compact JSON for anything else.
///
/// Tool inputs are written by the model from user-controlled text, so the summary is redacted like
/// everything else: secrets first (on the whole text, so a cut never leaves half a token), then host paths.
public enum ToolSummary {
    public static let maxCharacters = 200

    /// - Parameter scrub: Takes secrets and host paths out of text (applied before the text is cut).
    public static func summarize(tool: String, input: JSONValue?, scrub: (String) -> String) -> String {
        let raw: String
        switch tool {
        case "Bash":
            raw = input?["command"]?.stringValue ?? compact(input)
        case "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead":
            raw = input?["file_path"]?.stringValue ?? input?["notebook_path"]?.stringValue ?? compact(input)
        case "Grep", "Glob":
            raw = input?["pattern"]?.stringValue ?? compact(input)
        default:
            raw = compact(input)
        }
        return oneLine(scrub(raw), limit: maxCharacters)
    }

    /// Compact JSON, read far enough to make a summary (a huge input is never rendered whole).
    static func compact(_ input: JSONValue?) -> String {
        guard let input else { return "" }
        return input.compactJSON(limit: 64 * 1024)
    }

    /// Newlines and tabs become spaces, runs of spaces shrink to one, and the text is cut at `limit`
    /// characters with `…`.
    public static func oneLine(_ text: String, limit: Int) -> String {
        var output = ""
        var lastWasSpace = false
        var count = 0
        for character in text {
            let isSpace = character.isWhitespace
            if isSpace && (lastWasSpace || count == 0) { continue }
            if count >= limit { return output.trimmingTrailingSpace() + "…" }
            output.append(isSpace ? " " : character)
            lastWasSpace = isSpace
            count += 1
        }
        return output.trimmingTrailingSpace()
    }
}

extension String {
    fileprivate func trimmingTrailingSpace() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

extension ToolSummary {
    /// `text` cut at `limit` characters with `…` (line breaks kept).
    public static func clip(_ text: String, limit: Int) -> String {
        let trimmed = trimmingWhitespace(text)
        guard trimmed.utf8.count > limit, trimmed.count > limit else { return trimmed }
        return String(trimmed.prefix(limit)) + "…"
    }

    /// `text` without leading and trailing white space (Unicode's), copied only when there is some.
    static func trimmingWhitespace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace {
            end = scalars.index(before: end)
        }
        if start == scalars.startIndex, end == scalars.endIndex { return text }
        return String(scalars[start..<end])
    }
}
