import Foundation
import Testing

@testable import ClaudeRunner

@Suite("parsing JSON from bytes", .timeLimit(.minutes(1)))
struct JSONBytesTests {
    func parse(_ text: String) -> JSONValue? {
        Data(text.utf8).withUnsafeBytes { JSONBytes.parse($0) }
    }

    /// What Foundation's JSONSerialization makes of the same text, as a JSONValue: the reference (for text
    /// without `true` and `false`, which it gives as numbers on Linux).
    func reference(_ text: String) throws -> JSONValue? {
        func convert(_ value: Any) -> JSONValue {
            switch value {
            case is NSNull: return .null
            case let number as NSNumber: return .number(number.doubleValue)
            case let text as String: return .string(text)
            case let items as [Any]: return .array(items.map(convert))
            case let object as [String: Any]:
                return .object(object.keys.sorted().map { ($0, convert(object[$0]!)) })
            default: return .null
            }
        }
        return convert(try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]))
    }

    @Test("values of every kind, as Foundation reads them; object keys sorted")
    func values() throws {
        for text in [
            #"{"b":1,"a":[null,-0.5,1e3,12345678901234567890,"x"],"c":{"d":{}}}"#,
            #"  [ 1 , 2.25 , -3E-2 , [] , {} , "" ]  "#,
            #""plain""#, "0", "-7", "3.141592653589793", "1.7976931348623157e308", "5e-324",
            #"{"text":"a \"quoted\" \\ back\/slash \n\t\r\b\f \u00e9 \u20ac \ud83d\ude00"}"#,
            #"{"emoji":"😀 é 中文"}"#,
        ] {
            let parsed = try #require(parse(text), "\(text)")
            #expect(parsed == (try reference(text)), "\(text)")
        }
        #expect(parse(#"{"b":2,"a":1}"#)?.compactJSON() == #"{"a":1,"b":2}"#)
        #expect(parse("[true,false,null]") == .array([.bool(true), .bool(false), .null]))
    }

    @Test("of duplicate keys the last one wins")
    func duplicates() {
        #expect(parse(#"{"k":1,"j":0,"k":2}"#) == .object([("j", .number(0)), ("k", .number(2))]))
    }

    @Test("a lone surrogate escape becomes U+FFFD; invalid UTF-8 is repaired, not rejected")
    func repaired() {
        #expect(parse(#""\ud800x""#) == .string("\u{FFFD}x"))
        #expect(parse(#""\udc00""#) == .string("\u{FFFD}"))
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x62, 0x22]
        #expect(bytes.withUnsafeBytes { JSONBytes.parse($0) } == .string("a\u{FFFD}b"))
    }

    @Test("malformed text is nil: bad grammar, trailing bytes, control characters, bad escapes, bad numbers")
    func malformed() {
        for text in [
            "", " ", "{", "}", "[1,]", "[,1]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":1} x"#, "[1] [2]",
            "\"unterminated", "\"tab\tinside\"", "\"line\nbreak\"", #""\x""#, #""\u12""#, #""\u12G4""#, "01", "1.",
            ".5", "-", "1e", "1e+", "+1", "tru", "nul", "falsey", "NaN", "Infinity", "'single'",
        ] {
            #expect(parse(text) == nil, "\(text.debugDescription)")
        }
    }

    @Test("nesting deeper than the limit is nil, not a crash; up to the limit it parses")
    func depth() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(parse(deep) == nil)
        let limit = JSONBytes.maxDepth
        let ok = String(repeating: #"{"a":"#, count: limit - 1) + "1" + String(repeating: "}", count: limit - 1)
        #expect(parse(ok) != nil)
    }

    @Test("a stream-json event read through it: wrong types are absent, not failures")
    func event() {
        let line =
            #"{"type":"result","subtype":"success","is_error":"no","result":7,"num_turns":2.9,"#
            + #""total_cost_usd":"0.1","usage":{"input_tokens":"x","output_tokens":5},"errors":["a",1,"b"],"#
            + #""permission_denials":[3,{"tool_name":"Bash","tool_input":{"command":"ls"}}]}"#
        guard case .result(let result) = ClaudeEvent.parse(Data(line.utf8)) else {
            Issue.record("not a result event")
            return
        }
        #expect(result.isError == false)
        #expect(result.result == nil)
        #expect(result.numTurns == 2)
        #expect(result.totalCostUSD == nil)
        #expect(result.usage == TokenUsage(inputTokens: 0, outputTokens: 5))
        #expect(result.errors == ["a", "b"])
        #expect(
            result.permissionDenials == [
                .init(tool: "Bash", toolUseID: nil, input: .object([("command", .string("ls"))]))
            ])
    }
}
