import AsyncHTTPClient
import Foundation
import NIOCore

/// A streamed HTTP answer read line by line, as a test reads NDJSON or server-sent events.
public struct StreamedResponse: Sendable {
    public let status: Int
    public let contentType: String?
    public let lines: AsyncThrowingStream<String, any Error>

    /// POSTs `body` to `url` with `headers` and starts reading the answer's lines.
    public static func post(
        _ url: String, body: String, headers: [String: String], httpClient: HTTPClient = .shared
    ) async throws -> StreamedResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await httpClient.execute(request, timeout: .seconds(120))
        let (lines, continuation) = AsyncThrowingStream.makeStream(of: String.self)
        let reader = Task {
            var pending = ""
            do {
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let newline = pending.firstIndex(of: "\n") {
                        continuation.yield(String(pending[..<newline]))
                        pending = String(pending[pending.index(after: newline)...])
                    }
                }
                if !pending.isEmpty { continuation.yield(pending) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        return StreamedResponse(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"), lines: lines)
    }
}

/// Runs `body`, failing with a message naming `what` when it takes longer than `timeout`: a lost message
/// fails the test instead of hanging it.
public func within<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw Command.Failure(description: "timed out after \(timeout) waiting for \(what)")
        }
        return value
    }
}
