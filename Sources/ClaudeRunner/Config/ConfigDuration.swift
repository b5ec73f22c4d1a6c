import Foundation

/// Durations in config: integer seconds (`90`) or a number with a unit (`90s`, `30m`, `1h`, `1h30m`, `500ms`,
/// `30d`, `1d12h`).
enum ConfigDuration {
    static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0, seconds < Int.max / 2_000 { return .seconds(seconds) }
        var total = Duration.zero
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let value = Double(digits), value >= 0 else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            default: return nil
            }
            let milliseconds = (value * scale * 1000).rounded()
            // About 292 million years: anything larger is a typo, not a duration.
            guard milliseconds < Double(Int64.max / 2) else { return nil }
            total += .milliseconds(Int64(milliseconds))
        }
        return total
    }
}
