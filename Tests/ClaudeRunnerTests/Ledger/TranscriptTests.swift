import ClaudeRunner
import ClaudeRunnerTesting
import Foundation
import Testing

@Suite("run ledger: transcripts", .timeLimit(.minutes(3)))
struct TranscriptTests {
    typealias Fixture = LedgerFixture

    @Test("every line appended is in the transcript, in order, once the writer is done")
    func linesInOrder() async throws {
        try await Fixture.withLedger { ledger, _ in
            let id = ULID().description
            let lines = (0..<20_000).map { #"{"type":"tool","id":"\#(id)","n":\#($0)}"# }
            let returned = await ledger.withTranscript(for: id) { writer in
                for (index, line) in lines.enumerated() {
                    // Some callers pass a trailing newline; it is not doubled.
                    if index % 2 == 0 { writer.append(line) } else { writer.append(Data((line + "\n").utf8)) }
                }
                return "body result"
            }
            #expect(returned == "body result")
            let transcript = try #require(ledger.transcript(id))
            #expect(try await transcript.collect() == lines)
            var count = 0
            for try await line in transcript {
                #expect(line == lines[count])
                count += 1
            }
            #expect(count == lines.count)
        }
    }

    @Test("the writer flushes while the run goes on, without waiting for the end")
    func flushesOnTime() async throws {
        try await Fixture.withLedger { ledger, _ in
            let id = ULID().description
            try await ledger.withTranscript(for: id) { writer in
                writer.append(#"{"type":"started"}"#)
                // Time-based flush: the line is in the file well before finish().
                let deadline = ContinuousClock.now + .seconds(10)
                while ledger.transcript(id) == nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await ledger.transcript(id)?.collect() == [#"{"type":"started"}"#])
                // Size-based flush: a batch beyond flushBytes is written at once.
                let big = #"{"type":"text","text":""# + String(repeating: "a", count: 1000) + #""}"#
                for _ in 0..<(TranscriptWriter.flushBytes / big.utf8.count + 2) { writer.append(big) }
                let sizeDeadline = ContinuousClock.now + .seconds(10)
                var size = 0
                while size < TranscriptWriter.flushBytes, ContinuousClock.now < sizeDeadline {
                    size = (try? FileManager.default.attributesOfItem(atPath: writer.path)[.size] as? Int) ?? 0
                    await Task.yield()
                }
                #expect(size >= TranscriptWriter.flushBytes)
            }
        }
    }

    @Test("a transcript stops at maxTranscriptBytes with one line saying it was cut")
    func cap() async throws {
        try await Fixture.withLedger(maxTranscriptBytes: 4096) { ledger, _ in
            let id = ULID().description
            let line = #"{"type":"text","text":""# + String(repeating: "x", count: 70) + #""}"#  // 94 bytes + newline
            await ledger.withTranscript(for: id) { writer in
                for _ in 0..<200 { writer.append(line) }
                writer.append(#"{"type":"result"}"#)
            }
            let path = ledger.transcriptDirectory + "/\(id).ndjson"
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(size <= 4096)
            let lines = try await #require(ledger.transcript(id)).collect()
            let cut = #"{"type":"transcript_cut","id":"\#(id)","max_bytes":4096}"#
            #expect(lines.last == cut)
            #expect(lines.dropLast().allSatisfy { $0 == line })
            #expect(lines.count == (4096 - cut.utf8.count - 1) / (line.utf8.count + 1) + 1)

            // A second writer for the same run adds nothing to a transcript that was cut.
            await ledger.withTranscript(for: id) { writer in writer.append(line) }
            #expect(try await ledger.transcript(id)?.collect() == lines)
        }
    }

    @Test("maxTranscriptBytes 0 keeps no transcript; unknown and invalid ids have none")
    func noTranscript() async throws {
        try await Fixture.withLedger(maxTranscriptBytes: 0) { ledger, _ in
            let id = ULID().description
            await ledger.withTranscript(for: id) { writer in writer.append("{}") }
            #expect(ledger.transcript(id) == nil)
            #expect(ledger.transcript(ULID().description) == nil)
            #expect(ledger.transcript("../runs.db") == nil)
        }
    }

    @Test("reading leaves out a last line that has no newline yet (being written, or cut by a crash)")
    func tornLine() async throws {
        try await Fixture.withLedger { ledger, _ in
            let id = ULID().description
            let path = ledger.transcriptDirectory + "/\(id).ndjson"
            try Data("{\"n\":1}\n{\"n\":2}\n{\"n\":".utf8).write(to: URL(fileURLWithPath: path))
            #expect(try await ledger.transcript(id)?.collect() == [#"{"n":1}"#, #"{"n":2}"#])
        }
    }

    @Test("appending after finish is ignored; a failed body still leaves what it wrote")
    func afterFinish() async throws {
        struct Boom: Error {}
        try await Fixture.withLedger { ledger, _ in
            let id = ULID().description
            var kept: TranscriptWriter?
            await #expect(throws: Boom.self) {
                try await ledger.withTranscript(for: id) { writer in
                    kept = writer
                    writer.append(#"{"type":"queued"}"#)
                    throw Boom()
                }
            }
            kept?.append(#"{"type":"late"}"#)
            kept?.finish()
            let lines = try await ledger.transcript(id)?.collect()
            #expect(lines == [#"{"type":"queued"}"#])
        }
    }

    @Test("a transcript keeps at most 1 MiB of a Result's output, with a note; other events as they are")
    func resultOutputCut() throws {
        let id = ULID().description
        let output = String(repeating: "é", count: RunEvent.transcriptOutputBytes)  // 2 bytes each
        let big = RunEvent(runID: id, elapsedMS: 5, payload: .result(RunResult(id: id, output: output)))
        guard case .result(let kept) = big.forTranscript.payload else {
            Issue.record("not a result any more")
            return
        }
        let note =
            "[claude-runner: the transcript keeps the first \(RunEvent.transcriptOutputBytes) of "
            + "\(output.utf8.count) bytes of the output]"
        #expect(kept.output.hasSuffix(note))
        #expect(kept.output.utf8.count <= RunEvent.transcriptOutputBytes + note.utf8.count + 2)
        #expect(kept.output.hasPrefix(String(repeating: "é", count: 1000)))
        let small = RunEvent(runID: id, elapsedMS: 5, payload: .result(RunResult(id: id, output: "done")))
        #expect(small.forTranscript == small)
        let tool = RunEvent(
            runID: id, elapsedMS: 5, payload: .tool(name: "Bash", input: String(repeating: "x", count: 2 << 20)))
        #expect(tool.forTranscript == tool)
    }
}
