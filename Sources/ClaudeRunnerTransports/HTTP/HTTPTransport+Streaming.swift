import ClaudeRunner
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// How a run's progress is streamed over HTTP, chosen by the request's `Accept` header.
public enum ProgressStreamFormat: Sendable, Equatable {
    /// `application/x-ndjson`: one event per line.
    case ndjson
    /// `text/event-stream`: server-sent events, with keep-alive comments.
    case serverSentEvents

    /// The format the `Accept` header asks for, or `nil` for a plain JSON answer.
    public init?(accept: String?) {
        guard let accept else { return nil }
        for item in accept.split(separator: ",") {
            let mediaType = item.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            switch mediaType {
            case "application/x-ndjson":
                self = .ndjson
                return
            case "text/event-stream":
                self = .serverSentEvents
                return
            default: continue
            }
        }
        return nil
    }

    var contentType: String {
        switch self {
        case .ndjson: "application/x-ndjson"
        case .serverSentEvents: "text/event-stream"
        }
    }

    /// One event, framed.
    public func frame(_ event: RunEvent) -> ByteBuffer {
        var json = event.jsonBuffer()
        switch self {
        case .ndjson:
            json.writeInteger(UInt8(ascii: "\n"))
            return json
        case .serverSentEvents:
            var buffer = ByteBuffer(string: "event: \(event.type)\ndata: ")
            buffer.writeBuffer(&json)
            buffer.writeString("\n\n")
            return buffer
        }
    }

    /// A comment that keeps proxies from closing an idle stream.
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
    /// How often a keep-alive comment is sent on an SSE stream.
    static let keepAliveInterval: Duration = .seconds(15)
}

extension HTTPTransport {
    /// `POST /api/run` with `Accept: application/x-ndjson` or `text/event-stream`: a bad request is
    /// answered before streaming, exactly as without streaming; then every progress event is written as
    /// it happens, the last one `result` (or `error`). A client that goes away cancels the run.
    static func streamRun(
        _ request: Request, _ context: RunnerRequestContext, format: ProgressStreamFormat, service: RunnerService,
        _ maxBodyBytes: Int
    ) async throws -> Response {
        let body: RunRequest
        switch try await decodeBody(request, RunRequest.self, maxBodyBytes: maxBodyBytes) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return failure.response
        }
        let prepared: RunnerService.PreparedRun
        do {
            prepared = try service.prepareRun(body, transport: .http)
            if !service.slots.hasRoom {
                let (running, waiting) = service.slots.counts
                throw RunnerError.unavailable(
                    "runner is busy: \(running) runs in progress and \(waiting) waiting (limits.maxQueuedRuns); retry later"
                )
            }
        } catch let error as RunnerError {
            return errorResponse(for: error)
        }
        let logger = context.logger
        let channel = context.channel
        let events = prepared.progress.subscribe(replay: true, bufferSize: 1024)
        return Response(
            status: .ok,
            headers: [.contentType: format.contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await writeStream(
                    events, format: format, prepared: prepared, service: service, channel: channel, logger: logger,
                    writer: &writer)
            })
    }

    private enum StreamItem: Sendable {
        case event(RunEvent)
        case eventsEnded
        case runEnded
        case keepAlive
        case clientLeft
    }

    private static func writeStream(
        _ events: AsyncStream<RunEvent>, format: ProgressStreamFormat, prepared: RunnerService.PreparedRun,
        service: RunnerService, channel: any Channel, logger: Logger, writer: inout any ResponseBodyWriter
    ) async throws {
        let (items, sink) = AsyncStream.makeStream(of: StreamItem.self)
        let watcher = ClientDisconnectHandler()
        watcher.install(on: channel)
        watcher.whenClientLeaves { sink.yield(.clientLeft) }
        defer { watcher.uninstall(from: channel) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try? await service.execute(prepared, logger: logger)
                sink.yield(.runEnded)
            }
            group.addTask {
                for await event in events { sink.yield(.event(event)) }
                sink.yield(.eventsEnded)
            }
            if format == .serverSentEvents {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        sink.yield(.keepAlive)
                    }
                }
            }
            // Write until the run has returned and its last event is out; a client that is gone stops the
            // writing and cancels the run, whose end is still awaited.
            var runEnded = false
            var eventsEnded = false
            var clientGone = false
            // A keep-alive goes out only after a quiet interval, never between events.
            var lastWrite = ContinuousClock.now
            for await item in items {
                switch item {
                case .event(let event):
                    guard !clientGone else { continue }
                    do {
                        try await writer.write(format.frame(event))
                        lastWrite = .now
                    } catch {
                        clientGone = true
                        prepared.execution.cancel()
                    }
                case .keepAlive:
                    guard !clientGone, ContinuousClock.now - lastWrite >= ProgressStreamFormat.keepAliveInterval
                    else { continue }
                    if (try? await writer.write(ProgressStreamFormat.keepAlive)) == nil {
                        clientGone = true
                        prepared.execution.cancel()
                    }
                    lastWrite = .now
                case .clientLeft:
                    clientGone = true
                    prepared.execution.cancel()
                case .runEnded: runEnded = true
                case .eventsEnded: eventsEnded = true
                }
                if runEnded, eventsEnded { break }
            }
            group.cancelAll()
        }
        try await writer.finish(nil)
    }
}
