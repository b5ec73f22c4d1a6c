import AsyncHTTPClient
import ClaudeRunner
import Foundation
import NIOCore
import NIOFoundationCompat

/// Sends a ``ClientRequest`` to `<endpoint>/api/<operation>` and decodes the Result.
public struct HTTPRunnerClient: Sendable {
    public var endpoint: String
    /// Sent as `Authorization: Bearer <token>` when set.
    public var token: String?
    public var timeout: TimeAmount

    public init(endpoint: String, token: String? = nil, timeout: TimeAmount = .minutes(60)) {
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Sends `request` and returns its Result.
    /// - Parameter onEvent: When given, a run's progress is streamed (`Accept: application/x-ndjson`) and
    ///   each event is passed here as it arrives; the Result is then the stream's last event. A server
    ///   that does not stream answers with the Result as usual.
    public func send(
        _ request: ClientRequest, httpClient: HTTPClient = .shared, onEvent: (@Sendable (RunEvent) -> Void)? = nil
    ) async throws -> RunResult {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else {
            throw Failure(description: "invalid --endpoint \"\(endpoint)\": expected an http:// or https:// URL")
        }
        var httpRequest = HTTPClientRequest(url: "\(base)/api/\(request.operation)")
        httpRequest.method = .POST
        httpRequest.headers.add(name: "Content-Type", value: "application/json")
        let streaming = onEvent != nil && request.operation == "run"
        if streaming { httpRequest.headers.add(name: "Accept", value: "application/x-ndjson") }
        if let token, !token.isEmpty { httpRequest.headers.add(name: "Authorization", value: "Bearer \(token)") }
        httpRequest.body = .bytes(ByteBuffer(data: try request.jsonBody()))

        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(httpRequest, timeout: timeout)
        } catch {
            throw Failure(description: "http request: \(error)")
        }
        let isStream = response.headers.first(name: "Content-Type")?.lowercased().hasPrefix("application/x-ndjson")
        if response.status == .ok, streaming, isStream == true, let onEvent {
            return try await readStream(response, onEvent: onEvent)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw Failure(description: "http request: \(error)")
        }
        guard response.status == .ok else {
            struct ErrorBody: Decodable { var error: String? }
            let message = (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
            throw Failure(description: "unexpected status: \(response.status.code)" + (message.map { ": \($0)" } ?? ""))
        }
        do {
            return try JSONDecoder().decode(RunResult.self, from: body)
        } catch {
            throw Failure(description: "decode response: \(error)")
        }
    }

    /// Reads NDJSON progress events to the last one (`result` or `error`).
    private func readStream(
        _ response: HTTPClientResponse, onEvent: @Sendable (RunEvent) -> Void
    ) async throws -> RunResult {
        var pending = ByteBuffer()
        do {
            for try await chunk in response.body {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - pending.readerIndex
                    guard let line = pending.readSlice(length: length) else { break }
                    pending.moveReaderIndex(forwardBy: 1)
                    guard let event = RunEvent.decode(Data(buffer: line)) else { continue }
                    onEvent(event)
                    switch event.payload {
                    case .result(let result): return result
                    case .error(let message): throw Failure(description: message)
                    default: continue
                    }
                }
                pending.discardReadBytes()
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "http request: \(error)")
        }
        throw Failure(description: "the progress stream ended without a result")
    }
}
