import Foundation
import Logging
import NATS
import NIOCore

/// Measures request/reply round trips per second through the NATS library against a running server:
/// one connection answers on `bench.echo`, another sends `count` requests, `concurrency` at a time.
///
/// Usage: nats-bench <nats-url> [count] [concurrency] [payload-bytes]
@main
struct NATSBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(
                Data("usage: nats-bench <nats-url> [count] [concurrency] [payload-bytes]\n".utf8))
            exit(2)
        }
        let url = try NATSServerURL(arguments[1])
        let count = arguments.count > 2 ? Int(arguments[2]) ?? 20_000 : 20_000
        let concurrency = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
        let size = arguments.count > 4 ? Int(arguments[4]) ?? 16 : 16
        var logger = Logger(label: "nats-bench")
        logger.logLevel = .error
        let responder = NATSClient(options: NATSClientOptions(url: url, name: "bench-responder"), logger: logger)
        let requester = NATSClient(options: NATSClientOptions(url: url, name: "bench-requester"), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await responder.run() }
            group.addTask { try await requester.run() }
            try await responder.waitUntilConnected(timeout: .seconds(5))
            try await requester.waitUntilConnected(timeout: .seconds(5))
            let subscription = try responder.subscribe(to: "bench.echo")
            group.addTask {
                for await message in subscription {
                    if let reply = message.replyTo { try responder.publish(message.payload, to: reply) }
                }
            }
            try await responder.flush()
            let payload = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for worker in 0..<concurrency {
                    let share = count / concurrency + (worker < count % concurrency ? 1 : 0)
                    workers.addTask {
                        for _ in 0..<share {
                            _ = try await requester.request(payload, to: "bench.echo", timeout: .seconds(10))
                        }
                    }
                }
                try await workers.waitForAll()
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                String(
                    format: "swift  requests=%d concurrency=%d payload=%dB  %.0f req/s  (%.3f s)",
                    count, concurrency, size, Double(count) / seconds, seconds))
            subscription.unsubscribe()
            await requester.close()
            await responder.close()
            group.cancelAll()
        }
    }
}
