import ClaudeRunner
import Foundation
import NIOCore
import Testing

@Suite("wire JSON", .timeLimit(.minutes(1)))
struct WireJSONTests {
    static let tricky = "plain <b>&</b> \"quoted\" \\ back\u{2028}line\u{2029}para\ttab\u{01} é 👍🏽 \n end"

    @Test("Go's escaping: HTML characters, U+2028/U+2029 and control characters")
    func escaping() {
        #expect(
            WireJSON.quoted(Self.tricky)
                == #""plain \u003cb\u003e\u0026\u003c/b\u003e \"quoted\" \\ back\u2028line\u2029para\ttab\u0001 é 👍🏽 \n end""#
        )
    }

    @Test("a Result written in pieces is byte for byte the Result written at once, whatever the piece size")
    func chunkedEqualsWhole() async throws {
        let result = RunResult(
            id: "01J0000000000000000000000", output: String(repeating: Self.tricky, count: 50), error: "boom <x>",
            status: "failed", sessionID: "s", costUSD: 0.25, numTurns: 3, durationMS: 1200, model: "m",
            usage: TokenUsage(inputTokens: 1, outputTokens: 2, cacheReadInputTokens: 3, cacheCreationInputTokens: 4),
            permissionDenials: [.init(tool: "Bash", input: "git push")])
        let whole = WireJSON.buffer(result)
        for size in [1, 2, 3, 7, 64, 1 << 20] {
            var joined = ByteBuffer()
            var pieces = 0
            try await WireJSON.write(result, chunkSize: size) { piece in
                var piece = piece
                joined.writeBuffer(&piece)
                pieces += 1
            }
            #expect(joined == whole, "piece size \(size)")
            #expect(size > 64 || pieces > 3)
        }
        let decoded = try JSONDecoder().decode(RunResult.self, from: Data(buffer: whole))
        #expect(decoded == result)
    }
}
