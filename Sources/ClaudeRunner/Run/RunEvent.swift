import Foundation
import NIOCore
import NIOFoundationCompat

/// One progress event of a run, as every transport sends it: `{"type", "id", "elapsed_ms", ...}`.
///
/// The runner builds these from Claude's stream-json events (never by passing Claude's text through
/// unchecked): tool inputs are one-line summaries, redacted, with host paths taken out.
public struct RunEvent: Sendable, Equatable {
    /// The run id.
    public var runID: String
    /// Milliseconds since the run was accepted.
    public var elapsedMS: Int
    public var payload: Payload

    public enum Payload: Sendable, Equatable {
        /// Waiting for a run slot; 1 means next.
        case queued(position: Int)
        /// Claude's process started (with the session and model once Claude said them).
        case started(sessionID: String?, model: String?)
        /// An assistant text block.
        case text(String)
        /// Claude called a tool.
        case tool(name: String, input: String)
        /// The CLI refused a tool call.
        case denied(tool: String, input: String)
        /// The last event: the Result.
        case result(RunResult)
        /// The last event, instead of `result`, when the request failed after streaming began.
        case error(String)
    }

    public init(runID: String, elapsedMS: Int, payload: Payload) {
        self.runID = runID
        self.elapsedMS = elapsedMS
        self.payload = payload
    }

    /// The event's `type`.
    public var type: String {
        switch payload {
        case .queued: "queued"
        case .started: "started"
        case .text: "text"
        case .tool: "tool"
        case .denied: "denied"
        case .result: "result"
        case .error: "error"
        }
    }

    /// Whether this event ends the stream.
    public var isFinal: Bool {
        switch payload {
        case .result, .error: true
        default: false
        }
    }

    /// Longest text of a `text` event; the Result carries the whole output.
    public static let maxTextCharacters = 4000

    /// The most of a Result's output a transcript line keeps: the caller got the whole output, and encoding a
    /// large one again for the transcript would hold it in memory twice more.
    public static let transcriptOutputBytes = 1 << 20

    /// The event as its transcript keeps it: a `result` with its output cut to ``transcriptOutputBytes``
    /// (with a note saying so); every other event as it is.
    public var forTranscript: RunEvent {
        guard case .result(var result) = payload, result.output.utf8.count > Self.transcriptOutputBytes else {
            return self
        }
        let total = result.output.utf8.count
        result.output =
            String(decoding: result.output.utf8.prefix(Self.transcriptOutputBytes), as: UTF8.self)
            + "\n\n[claude-runner: the transcript keeps the first \(Self.transcriptOutputBytes) of \(total) bytes of the output]"
        return RunEvent(runID: runID, elapsedMS: elapsedMS, payload: .result(result))
    }

    /// The event as one line of JSON (no newline).
    public func jsonBuffer() -> ByteBuffer {
        var object = JSONObjectWriter(capacity: 128)
        object.string("type", type)
        object.string("id", runID)
        object.int("elapsed_ms", elapsedMS)
        switch payload {
        case .queued(let position):
            object.int("position", position)
        case .started(let sessionID, let model):
            if let sessionID { object.string("session_id", sessionID) }
            if let model { object.string("model", model) }
        case .text(let text):
            object.string("text", text)
        case .tool(let name, let input):
            object.string("tool", name)
            object.string("input", input)
        case .denied(let tool, let input):
            object.string("tool", tool)
            object.string("input", input)
        case .result(let result):
            object.raw("result", WireJSON.buffer(result))
        case .error(let message):
            object.string("error", message)
        }
        return object.finish()
    }

    public var jsonLine: String { String(buffer: jsonBuffer()) }

    /// Reads an event a runner sent; `nil` for a line that is not one (unknown types included).
    public static func decode(_ data: Data) -> RunEvent? {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: data) else { return nil }
        let payload: Payload
        switch wire.type {
        case "queued": payload = .queued(position: wire.position ?? 0)
        case "started": payload = .started(sessionID: wire.sessionID, model: wire.model)
        case "text": payload = .text(wire.text ?? "")
        case "tool": payload = .tool(name: wire.tool ?? "", input: wire.input ?? "")
        case "denied": payload = .denied(tool: wire.tool ?? "", input: wire.input ?? "")
        case "result":
            guard let result = wire.result else { return nil }
            payload = .result(result)
        case "error": payload = .error(wire.error ?? "")
        default: return nil
        }
        return RunEvent(runID: wire.id ?? "", elapsedMS: wire.elapsedMS ?? 0, payload: payload)
    }

    private struct Wire: Decodable {
        var type: String
        var id: String?
        var elapsedMS: Int?
        var position: Int?
        var sessionID: String?
        var model: String?
        var text: String?
        var tool: String?
        var input: String?
        var result: RunResult?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case type, id, position, model, text, tool, input, result, error
            case elapsedMS = "elapsed_ms"
            case sessionID = "session_id"
        }
    }
}
