import ClaudeRunner
import HTTPTypes
import Hummingbird

/// Lets a request in only with `Authorization: Bearer <token>` matching one of the configured tokens.
///
/// Tokens are compared in constant time (every byte of every token is looked at, whatever matches). A
/// missing and a wrong token get the same 401 answer, which explains nothing; the request runs nothing.
/// Tokens never reach a log.
public struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    private let tokens: [[UInt8]]

    public init(tokens: [String]) {
        self.tokens = tokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], Self.matches(header, tokens) else {
            var response = HTTPTransport.errorResponse(.unauthorized, "unauthorized")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    static func matches(_ header: String, _ tokens: [[UInt8]]) -> Bool {
        let prefix = Array("Bearer ".utf8)
        let bytes = Array(header.utf8)
        guard bytes.count > prefix.count, bytes[..<prefix.count].elementsEqual(prefix) else { return false }
        let presented = Array(bytes[prefix.count...])
        var found: UInt8 = 0
        for token in tokens {
            found |= constantTimeEqual(presented, token)
        }
        return found == 1
    }

    /// 1 when equal, 0 otherwise, in time that depends only on the lengths.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> UInt8 {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        let count = max(lhs.count, rhs.count)
        for index in 0..<count {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0 ? 1 : 0
    }
}
