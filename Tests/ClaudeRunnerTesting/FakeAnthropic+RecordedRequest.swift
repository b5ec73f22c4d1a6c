import Foundation

extension FakeAnthropic {
    /// A request the fake received, with readers for what tests assert on.
    public struct RecordedRequest: Sendable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// `POST /v1/messages`: answered from the script.
            case messages
            /// `POST /v1/messages/count_tokens`.
            case countTokens
            /// Anything else: answered 404.
            case unhandled
        }

        public let kind: Kind
        public let method: String
        /// The path without the query string (the CLI adds `?beta=true`).
        public let path: String
        public let query: String?
        /// Header names in lower case; repeated headers joined with ", ".
        public let headers: [String: String]
        /// The decoded JSON body (`null` when there was none or it was not JSON).
        public let body: JSON
        /// What the fake answered (messages requests only).
        public let answer: Turn?
        /// The ids the fake gave the answer's `tool_use` blocks, in order.
        public let toolUseIDs: [String]

        public var description: String { "\(method) \(path)" }

        public var model: String? { body["model"]?.string }
        public var isStreaming: Bool { body["stream"]?.bool ?? false }
        /// The API key the CLI sent (`x-api-key`).
        public var apiKey: String? { headers["x-api-key"] }

        /// The conversation so far, as sent: `{"role", "content"}` objects. The CLI 2.1.x also puts
        /// `role: system` entries here (its environment notes), besides the top-level `system` prompt.
        public var messages: [JSON] { body["messages"]?.array ?? [] }

        /// The top-level system prompt, its text blocks joined by newlines.
        public var system: String { Self.texts(in: body["system"]).joined(separator: "\n") }

        /// Names of the tools offered to the model.
        public var toolNames: [String] { body["tools"]?.array?.compactMap { $0["name"]?.string } ?? [] }

        /// Text blocks of `user` messages, in order (the prompts; the CLI's `<system-reminder>` blocks too).
        public var userTexts: [String] { messages(role: "user").flatMap { Self.texts(in: $0["content"]) } }

        /// Text blocks of `assistant` messages, in order: what the model said earlier in the conversation.
        public var assistantTexts: [String] { messages(role: "assistant").flatMap { Self.texts(in: $0["content"]) } }

        /// `tool_use` blocks of `assistant` messages: the calls the model made earlier in the conversation.
        public var toolUses: [ToolUse] {
            messages(role: "assistant").flatMap { Self.blocks(in: $0["content"], type: "tool_use") }.map {
                ToolUse(id: $0["id"]?.string ?? "", name: $0["name"]?.string ?? "", input: $0["input"] ?? .null)
            }
        }

        /// `tool_result` blocks of `user` messages: what the CLI reported back after running tools.
        public var toolResults: [ToolResult] {
            messages(role: "user").flatMap { Self.blocks(in: $0["content"], type: "tool_result") }.map {
                ToolResult(
                    toolUseID: $0["tool_use_id"]?.string ?? "", content: Self.texts(in: $0["content"]).joined(),
                    isError: $0["is_error"]?.bool ?? false)
            }
        }

        public func messages(role: String) -> [JSON] { messages.filter { $0["role"]?.string == role } }

        /// A `content` (or `system`) value is a string or a list of blocks; these are its text parts.
        static func texts(in content: JSON?) -> [String] {
            if let text = content?.string { return [text] }
            return blocks(in: content, type: "text").compactMap { $0["text"]?.string }
        }

        static func blocks(in content: JSON?, type: String) -> [JSON] {
            content?.array?.filter { $0["type"]?.string == type } ?? []
        }
    }

    public struct ToolUse: Sendable, Equatable {
        public let id: String
        public let name: String
        public let input: JSON
    }

    public struct ToolResult: Sendable, Equatable {
        public let toolUseID: String
        /// The result's text (its text blocks joined, or the string it was).
        public let content: String
        public let isError: Bool
    }
}
