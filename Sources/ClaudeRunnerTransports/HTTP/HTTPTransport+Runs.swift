import ClaudeRunner
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The run-control API (spec section 11): `GET /api/runs`, `GET /api/runs/{id}`, `GET /api/runs/{id}/events`,
/// `POST /api/runs/{id}/cancel`, `GET /api/usage`; behind the same bearer tokens as the run routes.
extension HTTPTransport {
    static func addRunRoutes(to api: RouterGroup<RunnerRequestContext>, service: RunnerService) {
        api.get("runs") { request, _ in
            try await answer {
                let records = try await service.listRuns(try RunQuery(parameters: queryParameters(request)))
                var body = ByteBuffer(string: #"{"runs":["#)
                for (index, record) in records.enumerated() {
                    if index > 0 { body.writeString(",") }
                    body.writeBytes(try record.encodeJSON())
                }
                body.writeString("]}")
                return jsonResponse(.ok, body)
            }
        }
        api.get("runs/:id") { _, context in
            try await answer {
                let record = try await service.runRecord(try runID(context))
                return jsonResponse(.ok, ByteBuffer(data: try record.encodeJSON()))
            }
        }
        api.post("runs/:id/cancel") { _, context in
            try await answer {
                let id = try runID(context)
                try await service.cancelRun(id)
                var object = JSONObjectWriter()
                object.string("id", id)
                object.string("status", "cancelling")
                return jsonResponse(.accepted, object.finish())
            }
        }
        api.get("runs/:id/events") { request, context in
            try await answer {
                let feed = try await service.runEvents(try runID(context))
                let format = ProgressStreamFormat(accept: request.headers[.accept]) ?? .ndjson
                return Response(
                    status: .ok, headers: [.contentType: format.contentType, .cacheControl: "no-cache"],
                    body: ResponseBody { writer in
                        switch feed {
                        case .live(let events):
                            for await event in events { try await writer.write(format.frame(event)) }
                        case .recorded(let lines):
                            for try await line in lines {
                                try await writer.write(format.frame(line: line, type: EventLine.type(of: line)))
                            }
                        }
                        try await writer.finish(nil)
                    })
            }
        }
        api.get("usage") { request, _ in
            try await answer {
                let report = try await service.usage(try UsageQuery(parameters: queryParameters(request)))
                return jsonResponse(.ok, ByteBuffer(data: try report.encodeJSON()))
            }
        }
    }

    /// Runs `body`, answering a service error as its status and `{"error": ...}`.
    static func answer(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as RunnerError {
            return errorResponse(for: error)
        }
    }

    static func runID(_ context: RunnerRequestContext) throws(RunnerError) -> String {
        let id = context.parameters.get("id") ?? ""
        try RunnerService.checkRunID(id)
        return id
    }

    static func queryParameters(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
        return parameters
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ body: ByteBuffer) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }
}

extension ProgressStreamFormat {
    /// One recorded event line (already JSON), framed.
    func frame(line: String, type: String) -> ByteBuffer {
        switch self {
        case .ndjson: ByteBuffer(string: line + "\n")
        case .serverSentEvents: ByteBuffer(string: "event: \(type)\ndata: \(line)\n\n")
        }
    }
}

/// The `type` of a recorded event line.
enum EventLine {
    static func type(of line: String) -> String {
        struct Typed: Decodable { var type: String? }
        return (try? JSONDecoder().decode(Typed.self, from: Data(line.utf8)))?.type ?? "event"
    }
}
