import Foundation
import NIOCore
import NIOFoundationCompat

/// The JSON envelopes of the JetStream API that callers never see.
enum JetStreamAPI {
    /// Every API reply (and a failed publish acknowledgement) may carry `{"error":{...}}`.
    struct ErrorEnvelope: Decodable {
        struct Body: Decodable {
            var code: Int
            var errCode: Int?
            var description: String?

            enum CodingKeys: String, CodingKey {
                case code, description
                case errCode = "err_code"
            }
        }

        var error: Body?
    }

    /// `$JS.API.CONSUMER.CREATE` and `DURABLE.CREATE` take the stream's name next to the configuration.
    struct CreateConsumerRequest: Encodable {
        var stream: String
        var config: ConsumerConfig

        enum CodingKeys: String, CodingKey {
            case config
            case stream = "stream_name"
        }
    }

    /// The body of `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`: up to `batch` messages, the server holding
    /// the request open for `expires` (or answering at once with `no_wait`).
    struct PullRequest: Encodable, Hashable {
        var batch: Int
        var expires: Duration?
        var noWait: Bool

        enum CodingKeys: String, CodingKey {
            case batch, expires
            case noWait = "no_wait"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(batch, forKey: .batch)
            try container.encodeDurationIfPresent(expires, forKey: .expires)
            if noWait { try container.encode(true, forKey: .noWait) }
        }
    }

    struct SuccessResponse: Decodable {
        var success: Bool
    }

    struct PurgeResponse: Decodable {
        var success: Bool
        var purged: UInt64?
    }

    /// The account's JetStream is off: the server answers with one of these instead of no responders.
    static let notEnabledErrorCodes: Set<Int> = [10039, 10076]

    static func encode(_ value: some Encodable) throws(JetStreamError) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return ByteBuffer(data: try encoder.encode(value))
        } catch {
            throw .invalidArgument("could not encode \(type(of: value)): \(error)")
        }
    }

    /// Decodes an API reply; an error in it becomes a ``JetStreamError`` naming `context`.
    static func decode<Response: Decodable>(
        _ type: Response.Type, from payload: ByteBuffer, context: String
    ) throws(JetStreamError) -> Response {
        let decoder = JSONDecoder()
        let envelope: ErrorEnvelope
        do {
            envelope = try decoder.decode(ErrorEnvelope.self, from: payload)
        } catch {
            throw .badResponse("\(context): not JSON: \(excerpt(payload))")
        }
        if let failure = envelope.error {
            let errorCode = failure.errCode ?? 0
            let description = failure.description ?? "no description"
            if notEnabledErrorCodes.contains(errorCode) {
                throw .notEnabledForAccount(code: failure.code, errorCode: errorCode, description: description)
            }
            throw .apiError(code: failure.code, errorCode: errorCode, description: description, context: context)
        }
        do {
            return try decoder.decode(Response.self, from: payload)
        } catch {
            throw .badResponse("\(context): \(describe(error)) in \(excerpt(payload))")
        }
    }

    private static func excerpt(_ payload: ByteBuffer) -> String {
        let text = String(buffer: payload)
        if text.isEmpty { return "an empty reply" }
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: "missing field \"\(key.stringValue)\""
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            "bad field \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        default: "\(error)"
        }
    }

    /// Stream and consumer names become subject tokens: they must not split or widen a subject.
    static func validateName(_ name: String, _ what: String) throws(JetStreamError) {
        guard !name.isEmpty else { throw .invalidArgument("the \(what) name is empty") }
        let forbidden: Set<UInt8> = [
            UInt8(ascii: "."), UInt8(ascii: "*"), UInt8(ascii: ">"), UInt8(ascii: "/"),
            UInt8(ascii: "\\"),
        ]
        guard !name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || forbidden.contains($0) }) else {
            throw .invalidArgument(
                "the \(what) name \"\(name)\" must not contain '.', '*', '>', '/', '\\', whitespace or control characters"
            )
        }
    }
}
