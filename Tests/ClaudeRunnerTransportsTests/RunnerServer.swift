import AsyncHTTPClient
import ClaudeRunner
import ClaudeRunnerTesting
import ClaudeRunnerTransports
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle

/// The runner's real HTTP application on a free loopback port, with its background work, for a test.
struct RunnerServer: Sendable {
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)" }
    let service: RunnerService
    let background: BackgroundWork

    struct Response: Sendable {
        let status: Int
        let headers: [(String, String)]
        let body: String

        /// The body as a Result.
        func result() throws -> RunResult { try JSONDecoder().decode(RunResult.self, from: Data(body.utf8)) }

        /// `error` of an error body.
        var errorMessage: String? {
            struct ErrorBody: Decodable { var error: String }
            return try? JSONDecoder().decode(ErrorBody.self, from: Data(body.utf8)).error
        }

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// Starts the server for `fixture`, runs `body`, then shuts everything down.
    static func with<T: Sendable>(
        _ fixture: RunnerFixture, _ body: @escaping @Sendable (RunnerServer) async throws -> T
    ) async throws -> T {
        let logger = RunnerFixture.logger
        let background = BackgroundWork(shutdownGrace: .seconds(5), logger: logger)
        let service = RunnerService(config: fixture.config, scheduler: background, logger: logger)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try HTTPTransport.application(
            service: service, address: ListenAddress(host: "127.0.0.1", port: 0), logger: logger,
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            })
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await background.run()
                return nil
            }
            group.addTask {
                try await app.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw Command.Failure(description: "runner did not start") }
            let server = RunnerServer(port: port, service: service, background: background)
            group.addTask { try await body(server) }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw Command.Failure(description: "runner stopped")
        }
    }

    /// POSTs `body` (raw text) to `path`.
    func post(_ path: String, _ body: String, headers: [String: String] = [:]) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let collected = try await response.body.collect(upTo: 256 << 20)
        return Response(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: collected))
    }

    /// POSTs an encodable request as JSON.
    func post(_ path: String, json: some Encodable) async throws -> Response {
        try await post(path, String(decoding: try JSONEncoder().encode(json), as: UTF8.self))
    }
}
