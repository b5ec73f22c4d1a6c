import Foundation

/// RFC 3339 UTC timestamps as written to the state files (`2026-11-25T17:38:35.123Z`).
/// Reading accepts them with or without fractional seconds, as the original runner wrote both.
public enum Timestamp {
    public static func string(from date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    /// Whole seconds (`2026-11-25T17:38:35Z`), as GitHub's `since` parameters take them.
    public static func secondsString(from date: Date) -> String {
        Date.ISO8601FormatStyle().format(date)
    }

    public static func date(from text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        // Offsets other than Z, and nanosecond precision as Go writes it.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
