import Foundation
import Testing

@testable import ClaudeRunner

@Suite("peeking at stream-json lines", .timeLimit(.minutes(1)))
struct EventPeekTests {
    func keys(_ line: String) -> EventPeek.Keys? {
        Data(line.utf8).withUnsafeBytes { EventPeek.keys($0) }
    }

    @Test("the top-level type and subtype, wherever they stand, whatever the nested values hold")
    func keysFound() {
        #expect(keys(#"{"type":"user","message":{"type":"x","content":[{"a":"}\"]{"}]}}"#) == .init(type: "user"))
        #expect(
            keys(#"{"a":1,"b":[1,2,{"type":"no"}],"subtype":"init","type":"system"}"#)
                == .init(type: "system", subtype: "init"))
        #expect(keys(#" { "type" : "result" , "n": -1.5e3, "t": true, "z": null } "#) == .init(type: "result"))
        #expect(keys(#"{"x":1}"#) == .init())
    }

    @Test("a line that is not one well-formed object gives nil, so it is decoded (or kept as plain text)")
    func malformed() {
        #expect(keys(#"{"type":"user""#) == nil)
        #expect(keys(#"{"type":"user"} trailing"#) == nil)
        #expect(keys(#"{"type":"user",}"#) == nil)
        #expect(keys("[1,2]") == nil)
        #expect(keys(#"{"a":"unterminated}"#) == nil)
    }

    @Test("events the runner reads still parse; the ones it ignores are told apart without decoding")
    func parse() {
        #expect(ClaudeEvent.parse(Data(#"{"type":"user","message":{"content":"x"}}"#.utf8)) == .other(type: "user"))
        #expect(
            ClaudeEvent.parse(Data(#"{"type":"system","subtype":"init","session_id":"s","model":"m"}"#.utf8))
                == .initialized(sessionID: "s", model: "m"))
        #expect(ClaudeEvent.parse(Data(#"{"type":"system","subtype":"hook_started"}"#.utf8)) == .other(type: "system"))
        #expect(ClaudeEvent.parse(Data(#"{"no":"type"}"#.utf8)) == nil)
    }
}
