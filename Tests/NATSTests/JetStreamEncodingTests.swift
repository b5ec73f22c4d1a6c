import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import Testing

@testable import NATS

/// The JSON of the JetStream API: request bodies as the server expects them, replies as nats-server 2.9 sends
/// them (captured from nats-server 2.9.10).
@Suite("JetStream JSON encodings")
struct JetStreamEncodingTests {
    static func json(_ value: some Encodable) throws -> String {
        String(buffer: try JetStreamAPI.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, context: String = "test") throws -> T {
        try JetStreamAPI.decode(type, from: ByteBuffer(string: text), context: context)
    }

    /// A JetStream over a client that never connects: enough for everything checked before a request is sent.
    static func offlineJetStream(domain: String? = nil) throws -> JetStream {
        let client = NATSClient(
            options: NATSClientOptions(url: try NATSServerURL("nats://127.0.0.1:1")), logger: Logger(label: "test"))
        return JetStream(client: client, domain: domain)
    }

    // Replies of nats-server 2.9.10.
    static let streamInfoReply = """
        {"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,"config":{"name":"T",\
        "subjects":["t.\\u003e"],"retention":"workqueue","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,\
        "max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":1,\
        "duplicate_window":120000000000,"allow_direct":false,"mirror_direct":false,"sealed":false,\
        "deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false},\
        "created":"2026-12-01T15:08:10.981135523Z","state":{"messages":1,"bytes":71,"first_seq":1,\
        "first_ts":"2026-12-01T15:08:11.49011633Z","last_seq":1,"last_ts":"2026-12-01T15:08:11.49011633Z",\
        "num_subjects":1,"consumer_count":1}}
        """
    static let consumerInfoReply = """
        {"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"T","name":"D",\
        "created":"2026-12-01T15:08:11.169108312Z","config":{"durable_name":"D","deliver_policy":"all",\
        "ack_policy":"explicit","ack_wait":2000000000,"max_deliver":5,"replay_policy":"instant","max_waiting":512,\
        "max_ack_pending":1000,"num_replicas":0},"delivered":{"consumer_seq":12,"stream_seq":4,\
        "last_active":"2026-12-01T15:09:53.680731344Z"},"ack_floor":{"consumer_seq":9,"stream_seq":3},\
        "num_ack_pending":1,"num_redelivered":1,"num_waiting":0,"num_pending":1}
        """
    static let accountInfoReply = """
        {"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":71,"streams":1,"consumers":1,\
        "limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,\
        "memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},\
        "api":{"total":0,"errors":0}}
        """
    static let streamNotFoundReply = """
        {"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,\
        "description":"stream not found"},"total":0,"offset":0,"limit":0}
        """

    // MARK: Request bodies

    @Test("a stream config encodes with the API's field names, -1 for no limit and durations in nanoseconds")
    func streamConfigEncoding() throws {
        let config = StreamConfig(
            name: "CLAUDE_RUNNER_TASKS", subjects: ["claude-runner.tasks.>"], retention: .workQueue, storage: .file,
            maxMessages: 1000, maxAge: .seconds(86400), discard: .new, duplicateWindow: .seconds(120))
        #expect(
            try Self.json(config)
                == """
                {"discard":"new","duplicate_window":120000000000,"max_age":86400000000000,"max_bytes":-1,\
                "max_consumers":-1,"max_msg_size":-1,"max_msgs":1000,"max_msgs_per_subject":-1,\
                "name":"CLAUDE_RUNNER_TASKS","num_replicas":1,"retention":"workqueue","storage":"file",\
                "subjects":["claude-runner.tasks.>"]}
                """)
    }

    @Test("a durable consumer create request carries the stream name next to the config")
    func durableConsumerRequestEncoding() throws {
        let request = JetStreamAPI.CreateConsumerRequest(
            stream: "CLAUDE_RUNNER_TASKS",
            config: ConsumerConfig(
                durableName: "claude-runner-edge-1", ackPolicy: .explicit, ackWait: .seconds(60), maxDeliver: 3,
                filterSubject: "claude-runner.tasks.edge-1", maxAckPending: 4))
        #expect(
            try Self.json(request)
                == """
                {"config":{"ack_policy":"explicit","ack_wait":60000000000,"deliver_policy":"all",\
                "durable_name":"claude-runner-edge-1","filter_subject":"claude-runner.tasks.edge-1",\
                "max_ack_pending":4,"max_deliver":3,"replay_policy":"instant"},"stream_name":"CLAUDE_RUNNER_TASKS"}
                """)
    }

    @Test("a pull request sends batch and expires in nanoseconds; a no-wait one sends no expires")
    func pullRequestEncoding() throws {
        #expect(
            try Self.json(JetStreamAPI.PullRequest(batch: 5, expires: .milliseconds(1500), noWait: false))
                == #"{"batch":5,"expires":1500000000}"#)
        #expect(
            try Self.json(JetStreamAPI.PullRequest(batch: 1, expires: nil, noWait: true))
                == #"{"batch":1,"no_wait":true}"#)
    }

    @Test("the acknowledgement payloads are the server's verbs; a delayed NAK carries the delay in nanoseconds")
    func ackPayloads() {
        #expect(JetStreamAck.ack.payload == "+ACK")
        #expect(JetStreamAck.inProgress.payload == "+WPI")
        #expect(JetStreamAck.nak().payload == "-NAK")
        #expect(JetStreamAck.nak(delay: .milliseconds(2500)).payload == #"-NAK {"delay":2500000000}"#)
        #expect(JetStreamAck.term.payload == "+TERM")
    }

    // MARK: Replies

    @Test("a publish acknowledgement decodes, with and without duplicate")
    func pubAckDecoding() throws {
        #expect(try Self.decode(PubAck.self, #"{"stream":"T", "seq":1}"#) == PubAck(stream: "T", sequence: 1))
        let duplicate = try Self.decode(PubAck.self, #"{"stream":"T", "seq":1,"duplicate": true}"#)
        #expect(duplicate.duplicate)
        #expect(duplicate.sequence == 1)
        let withDomain = try Self.decode(PubAck.self, #"{"stream":"T","seq":9,"domain":"hub"}"#)
        #expect(withDomain.domain == "hub")
        #expect(!withDomain.duplicate)
    }

    @Test("a refused publish becomes a typed error with the server's code, err_code and description")
    func pubAckErrorDecoding() throws {
        let reply = """
            {"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"F","seq":0}
            """
        let error = try #require(throws: JetStreamError.self) {
            try Self.decode(PubAck.self, reply, context: "publishing to f.a")
        }
        #expect(error == .streamStoreFailed)
        #expect(error.code == 503)
        #expect(error.errorCode == 10077)
        #expect(error.serverDescription == "maximum messages exceeded")
        #expect(error.description == "publishing to f.a: JetStream error 503/10077: maximum messages exceeded")
    }

    @Test("stream info from nats-server 2.9 decodes; unknown fields are ignored, -1 and 0 mean unlimited")
    func streamInfoDecoding() throws {
        let info = try Self.decode(StreamInfo.self, Self.streamInfoReply)
        #expect(info.config.name == "T")
        #expect(info.config.subjects == ["t.>"])
        #expect(info.config.retention == .workQueue)
        #expect(info.config.storage == .file)
        #expect(info.config.discard == .old)
        #expect(info.config.maxMessages == nil)
        #expect(info.config.maxBytes == nil)
        #expect(info.config.maxAge == nil)
        #expect(info.config.duplicateWindow == .seconds(120))
        #expect(info.config.replicas == 1)
        #expect(
            info.state
                == StreamInfo.State(
                    messages: 1, bytes: 71, firstSequence: 1, lastSequence: 1, subjects: 1, consumers: 1))
    }

    @Test("consumer info from nats-server 2.9 decodes with its config and counters")
    func consumerInfoDecoding() throws {
        let info = try Self.decode(ConsumerInfo.self, Self.consumerInfoReply)
        #expect(info.stream == "T")
        #expect(info.name == "D")
        #expect(info.config.durableName == "D")
        #expect(info.config.ackPolicy == .explicit)
        #expect(info.config.deliverPolicy == .all)
        #expect(info.config.ackWait == .seconds(2))
        #expect(info.config.maxDeliver == 5)
        #expect(info.config.maxWaiting == 512)
        #expect(info.config.maxAckPending == 1000)
        #expect(info.delivered == ConsumerInfo.SequencePair(consumerSequence: 12, streamSequence: 4))
        #expect(info.ackFloor == ConsumerInfo.SequencePair(consumerSequence: 9, streamSequence: 3))
        #expect(info.numAckPending == 1)
        #expect(info.numRedelivered == 1)
        #expect(info.numWaiting == 0)
        #expect(info.numPending == 1)
    }

    @Test("account info from nats-server 2.9 decodes")
    func accountInfoDecoding() throws {
        let info = try Self.decode(AccountInfo.self, Self.accountInfoReply)
        #expect(info.streams == 1)
        #expect(info.consumers == 1)
        #expect(info.storage == 71)
        #expect(info.limits == AccountInfo.Limits())
        #expect(info.domain == nil)
    }

    @Test("an API error reply becomes a typed error that names what was asked")
    func apiErrorDecoding() throws {
        let error = try #require(throws: JetStreamError.self) {
            try Self.decode(StreamInfo.self, Self.streamNotFoundReply, context: "stream info for NOPE")
        }
        #expect(error == .streamNotFound)
        #expect(error != .consumerNotFound)
        #expect(error.code == 404)
        #expect(error.errorCode == 10059)
        #expect(error.description == "stream info for NOPE: JetStream error 404/10059: stream not found")
    }

    @Test("an account without JetStream is reported as not enabled")
    func accountNotEnabledDecoding() throws {
        let reply = #"{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled for account"}}"#
        let error = try #require(throws: JetStreamError.self) { try Self.decode(AccountInfo.self, reply) }
        #expect(error == .notEnabled)
        #expect(error.errorCode == 10039)
        #expect(error.description.contains("not enabled for this account"))
    }

    @Test("a reply that is not JSON, or lacks a field, is a bad response that says so")
    func badResponses() throws {
        let notJSON = try #require(throws: JetStreamError.self) { try Self.decode(PubAck.self, "+OK") }
        #expect(notJSON == .badResponse)
        #expect(notJSON.description.contains("+OK"))
        let missing = try #require(throws: JetStreamError.self) { try Self.decode(PubAck.self, #"{"stream":"T"}"#) }
        #expect(missing == .badResponse)
        #expect(missing.description.contains("\"seq\""))
    }

    @Test("configs survive an encode/decode round trip")
    func configRoundTrips() throws {
        let stream = StreamConfig(
            name: "S", description: "tasks", subjects: ["a.>", "b"], retention: .interest, storage: .memory,
            maxConsumers: 3, maxMessages: 10, maxBytes: 4096, maxAge: .seconds(5), maxMessagesPerSubject: 2,
            maxMessageSize: 512, discard: .new, replicas: 1, duplicateWindow: .seconds(1), denyDelete: true)
        #expect(try Self.decode(StreamConfig.self, Self.json(stream)) == stream)
        let consumer = ConsumerConfig(
            durableName: "d", deliverPolicy: .byStartSequence, startSequence: 7, ackWait: .milliseconds(1500),
            maxDeliver: 4, backoff: [.seconds(1), .seconds(5)], filterSubject: "a.x", maxWaiting: 8, maxAckPending: -1,
            maxBatch: 10, maxExpires: .seconds(30), headersOnly: true)
        #expect(try Self.decode(ConsumerConfig.self, Self.json(consumer)) == consumer)
    }

    // MARK: Before anything is sent

    @Test("stream and consumer names that would change the API subject are refused before sending")
    func invalidNames() async throws {
        let jetStream = try Self.offlineJetStream()
        for name in ["", "a.b", "a*", "a>", "a b", "a/b"] {
            let error = await #expect(throws: JetStreamError.self) { try await jetStream.streamInfo(name) }
            #expect(error == .invalidArgument)
        }
        let error = await #expect(throws: JetStreamError.self) {
            try await jetStream.fetch(stream: "S", consumer: "c.d")
        }
        #expect(error?.description.contains("\"c.d\"") == true)
        await #expect(throws: JetStreamError.invalidArgument) {
            try await jetStream.fetch(stream: "S", consumer: "c", batch: 0)
        }
        await #expect(throws: JetStreamError.invalidArgument) {
            try await jetStream.createConsumer(stream: "S", ConsumerConfig(durableName: "a", name: "b"))
        }
    }

    @Test("the API prefix follows the JetStream domain")
    func apiPrefix() throws {
        #expect(try Self.offlineJetStream().apiSubject("INFO") == "$JS.API.INFO")
        #expect(try Self.offlineJetStream(domain: "hub").apiSubject("STREAM.INFO.S") == "$JS.hub.API.STREAM.INFO.S")
    }
}
