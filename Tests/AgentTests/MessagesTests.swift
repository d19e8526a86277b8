import Grading
import Testing
@testable import Agent
@testable import MessagePack

private func backendError(_ bytes: [UInt8]) -> ProtocolError? {
    do {
        _ = try BackendMessage.decode(bytes)
        return nil
    } catch {
        return error
    }
}

private func agentError(_ bytes: [UInt8]) -> ProtocolError? {
    do {
        _ = try AgentMessage.decode(bytes)
        return nil
    } catch {
        return error
    }
}

/// A message map built by hand, fields in order and "@type" last, as `dump` packs it.
private func message(_ type: String, _ fields: [(String, MessagePackValue)]) -> [UInt8] {
    MessagePackValue.map(fields.map { (.string($0.0), $0.1) } + [(.string("@type"), .string(type))]).encode()
}

private func str(_ s: String) -> MessagePackValue { .string(s) }

/// The keys of a packed message, in order, and its value for each.
private func fields(_ bytes: [UInt8]) throws -> [(String, MessagePackValue)] {
    guard case .map(let pairs) = try MessagePackValue.decode(bytes) else { return [] }
    return pairs.map { ($0.0.stringValue ?? "?", $0.1) }
}

/// Bytes from INGInious 0.9.2's own `inginious.common.messages.dump` (msgpack 1.1).
enum Python {
    /// dump(BackendNewJob("job-7", "LSINF1101", "hello", {"q1": {"type": "code", "language": "python"}},
    ///   {"q1": "print(1)", "@state": "", "@username": ["alice"], "@lang": "en"}, "docker", "default",
    ///   {"limits": {"time": 30, "memory": 100, "hard_time": None}, "run_cmd": "", "network_grading": False}, "ssh"))
    static let newJob: [UInt8] = [
        0x8a, 0xa6, 0x6a, 0x6f, 0x62, 0x5f, 0x69, 0x64, 0xa5, 0x6a, 0x6f, 0x62, 0x2d, 0x37, 0xa9, 0x63,
        0x6f, 0x75, 0x72, 0x73, 0x65, 0x5f, 0x69, 0x64, 0xa9, 0x4c, 0x53, 0x49, 0x4e, 0x46, 0x31, 0x31,
        0x30, 0x31, 0xa7, 0x74, 0x61, 0x73, 0x6b, 0x5f, 0x69, 0x64, 0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
        0xad, 0x74, 0x61, 0x73, 0x6b, 0x5f, 0x70, 0x72, 0x6f, 0x62, 0x6c, 0x65, 0x6d, 0x73, 0x81, 0xa2,
        0x71, 0x31, 0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x63, 0x6f, 0x64, 0x65, 0xa8, 0x6c, 0x61,
        0x6e, 0x67, 0x75, 0x61, 0x67, 0x65, 0xa6, 0x70, 0x79, 0x74, 0x68, 0x6f, 0x6e, 0xa9, 0x69, 0x6e,
        0x70, 0x75, 0x74, 0x64, 0x61, 0x74, 0x61, 0x84, 0xa2, 0x71, 0x31, 0xa8, 0x70, 0x72, 0x69, 0x6e,
        0x74, 0x28, 0x31, 0x29, 0xa6, 0x40, 0x73, 0x74, 0x61, 0x74, 0x65, 0xa0, 0xa9, 0x40, 0x75, 0x73,
        0x65, 0x72, 0x6e, 0x61, 0x6d, 0x65, 0x91, 0xa5, 0x61, 0x6c, 0x69, 0x63, 0x65, 0xa5, 0x40, 0x6c,
        0x61, 0x6e, 0x67, 0xa2, 0x65, 0x6e, 0xb0, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x6d, 0x65,
        0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65, 0xa6, 0x64, 0x6f, 0x63, 0x6b, 0x65, 0x72, 0xab, 0x65,
        0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x6d, 0x65, 0x6e, 0x74, 0xa7, 0x64, 0x65, 0x66, 0x61, 0x75,
        0x6c, 0x74, 0xb6, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x6d, 0x65, 0x6e, 0x74, 0x5f, 0x70,
        0x61, 0x72, 0x61, 0x6d, 0x65, 0x74, 0x65, 0x72, 0x73, 0x83, 0xa6, 0x6c, 0x69, 0x6d, 0x69, 0x74,
        0x73, 0x83, 0xa4, 0x74, 0x69, 0x6d, 0x65, 0x1e, 0xa6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x64,
        0xa9, 0x68, 0x61, 0x72, 0x64, 0x5f, 0x74, 0x69, 0x6d, 0x65, 0xc0, 0xa7, 0x72, 0x75, 0x6e, 0x5f,
        0x63, 0x6d, 0x64, 0xa0, 0xaf, 0x6e, 0x65, 0x74, 0x77, 0x6f, 0x72, 0x6b, 0x5f, 0x67, 0x72, 0x61,
        0x64, 0x69, 0x6e, 0x67, 0xc2, 0xa5, 0x64, 0x65, 0x62, 0x75, 0x67, 0xa3, 0x73, 0x73, 0x68, 0xa5,
        0x40, 0x74, 0x79, 0x70, 0x65, 0xad, 0x42, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x4e, 0x65, 0x77,
        0x4a, 0x6f, 0x62,
    ]
    /// dump(BackendKillJob("job-7", "st"))
    static let killJob: [UInt8] = [
        0x83, 0xa6, 0x6a, 0x6f, 0x62, 0x5f, 0x69, 0x64, 0xa5, 0x6a, 0x6f, 0x62, 0x2d, 0x37, 0xa5, 0x73,
        0x74, 0x61, 0x74, 0x65, 0xa2, 0x73, 0x74, 0xa5, 0x40, 0x74, 0x79, 0x70, 0x65, 0xae, 0x42, 0x61,
        0x63, 0x6b, 0x65, 0x6e, 0x64, 0x4b, 0x69, 0x6c, 0x6c, 0x4a, 0x6f, 0x62,
    ]
    /// dump(Ping())
    static let ping: [UInt8] = [0x81, 0xa5, 0x40, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x50, 0x69, 0x6e, 0x67]
    /// dump(Pong())
    static let pong: [UInt8] = [0x81, 0xa5, 0x40, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x50, 0x6f, 0x6e, 0x67]
    /// dump(AgentJobStarted("job-7"))
    static let jobStarted: [UInt8] = [
        0x82, 0xa6, 0x6a, 0x6f, 0x62, 0x5f, 0x69, 0x64, 0xa5, 0x6a, 0x6f, 0x62, 0x2d, 0x37, 0xa5, 0x40,
        0x74, 0x79, 0x70, 0x65, 0xaf, 0x41, 0x67, 0x65, 0x6e, 0x74, 0x4a, 0x6f, 0x62, 0x53, 0x74, 0x61,
        0x72, 0x74, 0x65, 0x64,
    ]
    /// dump(AgentJobDone("job-7", ("success", "Well done"), 87.5, {"q1": ("success", "ok"), "q2": ("failed", "no")},
    ///   {"t": 3}, {"k": [1, True, None]}, "s1", b"\x1f\x8b", None, "err"))
    static let jobDone: [UInt8] = [
        0x8b, 0xa6, 0x6a, 0x6f, 0x62, 0x5f, 0x69, 0x64, 0xa5, 0x6a, 0x6f, 0x62, 0x2d, 0x37, 0xa6, 0x72,
        0x65, 0x73, 0x75, 0x6c, 0x74, 0x92, 0xa7, 0x73, 0x75, 0x63, 0x63, 0x65, 0x73, 0x73, 0xa9, 0x57,
        0x65, 0x6c, 0x6c, 0x20, 0x64, 0x6f, 0x6e, 0x65, 0xa5, 0x67, 0x72, 0x61, 0x64, 0x65, 0xcb, 0x40,
        0x55, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa8, 0x70, 0x72, 0x6f, 0x62, 0x6c, 0x65, 0x6d, 0x73,
        0x82, 0xa2, 0x71, 0x31, 0x92, 0xa7, 0x73, 0x75, 0x63, 0x63, 0x65, 0x73, 0x73, 0xa2, 0x6f, 0x6b,
        0xa2, 0x71, 0x32, 0x92, 0xa6, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0xa2, 0x6e, 0x6f, 0xa5, 0x74,
        0x65, 0x73, 0x74, 0x73, 0x81, 0xa1, 0x74, 0x03, 0xa6, 0x63, 0x75, 0x73, 0x74, 0x6f, 0x6d, 0x81,
        0xa1, 0x6b, 0x93, 0x01, 0xc3, 0xc0, 0xa5, 0x73, 0x74, 0x61, 0x74, 0x65, 0xa2, 0x73, 0x31, 0xa7,
        0x61, 0x72, 0x63, 0x68, 0x69, 0x76, 0x65, 0xc4, 0x02, 0x1f, 0x8b, 0xa6, 0x73, 0x74, 0x64, 0x6f,
        0x75, 0x74, 0xc0, 0xa6, 0x73, 0x74, 0x64, 0x65, 0x72, 0x72, 0xa3, 0x65, 0x72, 0x72, 0xa5, 0x40,
        0x74, 0x79, 0x70, 0x65, 0xac, 0x41, 0x67, 0x65, 0x6e, 0x74, 0x4a, 0x6f, 0x62, 0x44, 0x6f, 0x6e,
        0x65,
    ]
    /// dump(AgentHello("gb", 2, {"docker": {"default": {"id": "sha256:ab", "title": "default", "created": 1700000000,
    ///   "ports": [22], "runtime": "runc"}}, "mcq": {"mcq": {"id": "mcq", "created": 0}}}))
    static let hello: [UInt8] = [
        0x84, 0xad, 0x66, 0x72, 0x69, 0x65, 0x6e, 0x64, 0x6c, 0x79, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0xa2,
        0x67, 0x62, 0xb3, 0x61, 0x76, 0x61, 0x69, 0x6c, 0x61, 0x62, 0x6c, 0x65, 0x5f, 0x6a, 0x6f, 0x62,
        0x5f, 0x73, 0x6c, 0x6f, 0x74, 0x73, 0x02, 0xb6, 0x61, 0x76, 0x61, 0x69, 0x6c, 0x61, 0x62, 0x6c,
        0x65, 0x5f, 0x65, 0x6e, 0x76, 0x69, 0x72, 0x6f, 0x6e, 0x6d, 0x65, 0x6e, 0x74, 0x73, 0x82, 0xa6,
        0x64, 0x6f, 0x63, 0x6b, 0x65, 0x72, 0x81, 0xa7, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0x85,
        0xa2, 0x69, 0x64, 0xa9, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x3a, 0x61, 0x62, 0xa5, 0x74, 0x69,
        0x74, 0x6c, 0x65, 0xa7, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0xa7, 0x63, 0x72, 0x65, 0x61,
        0x74, 0x65, 0x64, 0xce, 0x65, 0x53, 0xf1, 0x00, 0xa5, 0x70, 0x6f, 0x72, 0x74, 0x73, 0x91, 0x16,
        0xa7, 0x72, 0x75, 0x6e, 0x74, 0x69, 0x6d, 0x65, 0xa4, 0x72, 0x75, 0x6e, 0x63, 0xa3, 0x6d, 0x63,
        0x71, 0x81, 0xa3, 0x6d, 0x63, 0x71, 0x82, 0xa2, 0x69, 0x64, 0xa3, 0x6d, 0x63, 0x71, 0xa7, 0x63,
        0x72, 0x65, 0x61, 0x74, 0x65, 0x64, 0x00, 0xa5, 0x40, 0x74, 0x79, 0x70, 0x65, 0xaa, 0x41, 0x67,
        0x65, 0x6e, 0x74, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
    ]
    /// dump(AgentJobSSHDebug("job-7", "10.0.0.1", 2222, "worker", "pw"))
    static let sshDebug: [UInt8] = [
        0x86, 0xa6, 0x6a, 0x6f, 0x62, 0x5f, 0x69, 0x64, 0xa5, 0x6a, 0x6f, 0x62, 0x2d, 0x37, 0xa4, 0x68,
        0x6f, 0x73, 0x74, 0xa8, 0x31, 0x30, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0xa4, 0x70, 0x6f, 0x72,
        0x74, 0xcd, 0x08, 0xae, 0xa4, 0x75, 0x73, 0x65, 0x72, 0xa6, 0x77, 0x6f, 0x72, 0x6b, 0x65, 0x72,
        0xa8, 0x70, 0x61, 0x73, 0x73, 0x77, 0x6f, 0x72, 0x64, 0xa2, 0x70, 0x77, 0xa5, 0x40, 0x74, 0x79,
        0x70, 0x65, 0xb0, 0x41, 0x67, 0x65, 0x6e, 0x74, 0x4a, 0x6f, 0x62, 0x53, 0x53, 0x48, 0x44, 0x65,
        0x62, 0x75, 0x67,
    ]
}

/// The job of `Python.newJob`, as values.
private let pythonJob = BackendNewJob(
    jobID: "job-7", courseID: "LSINF1101", taskID: "hello",
    taskProblems: .map([(str("q1"), .map([(str("type"), str("code")), (str("language"), str("python"))]))]),
    inputdata: .map([(str("q1"), str("print(1)")), (str("@state"), str("")), (str("@username"), .array([str("alice")])),
                     (str("@lang"), str("en"))]),
    environmentType: "docker", environment: "default",
    environmentParameters: .map([
        (str("limits"), .map([(str("time"), .int(30)), (str("memory"), .int(100)), (str("hard_time"), .nil)])),
        (str("run_cmd"), str("")), (str("network_grading"), .bool(false)),
    ]),
    debug: .ssh)

/// A valid BackendNewJob's fields, for breaking one at a time.
private let newJobFields: [(String, MessagePackValue)] = [
    ("job_id", str("j1")), ("course_id", str("c")), ("task_id", str("t")), ("task_problems", .map([])),
    ("inputdata", .map([(str("@state"), str(""))])), ("environment_type", str("docker")), ("environment", str("default")),
    ("environment_parameters", .map([])), ("debug", .bool(false)),
]

@Suite("INGInious 0.9.2's back-end <-> agent messages")
struct MessagesTests {
    // MARK: Back-end to agent

    @Test func aNewJobFromPythonIsReadFieldByField() throws {
        guard case .newJob(let job) = try BackendMessage.decode(Python.newJob) else {
            Issue.record("not a new job")
            return
        }
        #expect(job.jobID == "job-7")
        #expect(job.courseID == "LSINF1101")
        #expect(job.taskID == "hello")
        #expect(job.taskProblems["q1"]?["type"] == str("code"))
        #expect(job.inputdata["q1"] == str("print(1)") && job.inputdata["@state"] == str(""))
        #expect(job.inputdata["@username"] == .array([str("alice")]))
        #expect(job.environmentType == "docker" && job.environment == "default")
        #expect(job.environmentParameters["limits"]?["time"]?.int64Value == 30)
        #expect(job.environmentParameters["limits"]?["hard_time"] == .nil)
        #expect(job.environmentParameters["network_grading"] == .bool(false))
        #expect(job.debug == .ssh)
        #expect(job == pythonJob)
        #expect(BackendMessage.newJob(pythonJob).encode() == Python.newJob, "packed as the back-end packs it")
    }

    @Test func killAndPingFromPython() throws {
        #expect(try BackendMessage.decode(Python.killJob) == .killJob(jobID: "job-7", state: "st"))
        #expect(try BackendMessage.decode(Python.ping) == .ping)
        #expect(BackendMessage.killJob(jobID: "job-7", state: "st").encode() == Python.killJob)
        #expect(BackendMessage.ping.encode() == Python.ping)
    }

    @Test(arguments: [(MessagePackValue.bool(false), JobDebug.off), (.bool(true), .on), (str("ssh"), .ssh)])
    func debugIsFalseTrueOrSSH(_ wire: MessagePackValue, _ debug: JobDebug) throws {
        let bytes = message("BackendNewJob", newJobFields.map { $0.0 == "debug" ? ("debug", wire) : $0 })
        guard case .newJob(let job) = try BackendMessage.decode(bytes) else {
            Issue.record("not a new job")
            return
        }
        #expect(job.debug == debug)
        #expect(job.jobID == "j1" && job.inputdata == .map([(str("@state"), str(""))]))
        #expect(BackendMessage.newJob(job).encode() == bytes)
    }

    @Test func fieldOrderOnTheWireDoesNotMatter() throws {
        let bytes = message("BackendKillJob", [("state", str("s")), ("job_id", str("j"))])
        #expect(try BackendMessage.decode(bytes) == .killJob(jobID: "j", state: "s"))
        let typeFirst = MessagePackValue.map([(str("@type"), str("Ping"))]).encode()
        #expect(try BackendMessage.decode(typeFirst) == .ping)
    }

    @Test func unknownTypesAreRefusedByName() {
        #expect(backendError(message("ClientHello", [("name", str("x"))]))
            == .unknownType("ClientHello", expected: ["BackendNewJob", "BackendKillJob", "Ping"]))
        #expect(backendError(Python.pong) == .unknownType("Pong", expected: ["BackendNewJob", "BackendKillJob", "Ping"]),
                "an agent's message is not a back-end's")
        #expect(agentError(Python.ping) == .unknownType("Ping", expected: ["AgentHello", "AgentJobStarted", "AgentJobDone", "AgentJobSSHDebug", "Pong"]))
    }

    @Test func aMissingFieldIsNamed() {
        for (name, _) in newJobFields {
            let bytes = message("BackendNewJob", newJobFields.filter { $0.0 != name })
            #expect(backendError(bytes) == .missingField(message: "BackendNewJob", field: name))
        }
        // BackendKillJob has carried the state since INGInious 0.7: a kill without it is not 0.9.2's.
        #expect(backendError(message("BackendKillJob", [("job_id", str("j"))])) == .missingField(message: "BackendKillJob", field: "state"))
    }

    @Test func anExtraFieldIsNamed() {
        #expect(backendError(message("BackendNewJob", newJobFields + [("launcher", str("web"))]))
            == .unexpectedField(message: "BackendNewJob", field: "launcher"))
        #expect(backendError(message("Ping", [("seq", .int(1))])) == .unexpectedField(message: "Ping", field: "seq"))
        #expect(backendError(message("BackendKillJob", [("job_id", str("j")), ("why", .nil), ("state", str(""))]))
            == .unexpectedField(message: "BackendKillJob", field: "why"))
    }

    @Test(arguments: [
        ("job_id", MessagePackValue.int(7), "str", "int"),
        ("course_id", .nil, "str", "nil"),
        ("task_problems", .array([]), "map", "array"),
        ("inputdata", str("x"), "map", "str"),
        ("environment_parameters", .binary([1]), "map", "bin"),
        ("environment", .float(1), "str", "float"),
        ("debug", .int(1), "false, true or \"ssh\"", "int"),
        ("debug", str("yes"), "false, true or \"ssh\"", "the str \"yes\""),
    ])
    func aFieldOfTheWrongTypeIsNamed(_ field: String, _ value: MessagePackValue, _ expected: String, _ got: String) {
        let bytes = message("BackendNewJob", newJobFields.map { $0.0 == field ? (field, value) : $0 })
        #expect(backendError(bytes) == .wrongType(message: "BackendNewJob", field: field, expected: expected, got: got))
    }

    @Test func bytesThatAreNotAMessage() {
        #expect(backendError([0x81, 0xa5, 0x40]) == .msgpack(.lengthBeyondInput(offset: 1, format: "fixstr", declared: 5, remaining: 1)))
        #expect(backendError(Python.ping + [0xc0]) == .msgpack(.trailingBytes(offset: 12, count: 1)))
        #expect(backendError(MessagePackValue.array([str("Ping")]).encode()) == .notAMessage("the value is of type array, not a map"))
        #expect(backendError(MessagePackValue.map([(str("job_id"), str("j"))]).encode()) == .notAMessage("no \"@type\""))
        #expect(backendError(MessagePackValue.map([(str("@type"), .binary(Array("Ping".utf8)))]).encode())
            == .notAMessage("\"@type\" is of type bin, not str"), "a type packed as bytes is not a name")
        #expect(backendError(MessagePackValue.map([(str("@type"), str("Ping")), (.int(1), .nil)]).encode())
            == .notAMessage("a key of type int; field names are str"))
        #expect(backendError(message("BackendKillJob", [("job_id", str("a")), ("job_id", str("b")), ("state", str(""))]))
            == .duplicateField(message: "BackendKillJob", field: "job_id"))
    }

    @Test func errorsReadAsSentences() {
        #expect(ProtocolError.wrongType(message: "BackendNewJob", field: "job_id", expected: "str", got: "int").description
            == "BackendNewJob.job_id: expected str, got int")
        #expect(ProtocolError.missingField(message: "BackendKillJob", field: "state").description == "BackendKillJob: missing field state")
        #expect(ProtocolError.msgpack(.trailingBytes(offset: 1, count: 2)).description
            == "not a message: MessagePack: 2 bytes after the value, from byte 1")
    }

    // MARK: Agent to back-end

    static let hello = AgentHello(friendlyName: "gb", availableJobSlots: 2, availableEnvironments: [
        "docker": ["default": EnvironmentInfo(id: "sha256:ab", created: 1_700_000_000, title: "default", ports: [22], runtime: "runc")],
        "mcq": ["mcq": EnvironmentInfo(id: "mcq", created: 0)],
    ])

    @Test func helloIsPackedAsTheDockerAgentPacksIt() throws {
        let bytes = AgentMessage.hello(Self.hello).encode()
        #expect(bytes == Python.hello)
        let top = try fields(bytes)
        #expect(top.map(\.0) == ["friendly_name", "available_job_slots", "available_environments", "@type"])
        #expect(top[0].1 == str("gb") && top[1].1 == .int(2) && top[3].1 == str("AgentHello"))
        let docker = top[2].1["docker"]?["default"]
        #expect(docker?["id"] == str("sha256:ab") && docker?["created"] == .int(1_700_000_000))
        #expect(docker?["ports"] == .array([.int(22)]) && docker?["title"] == str("default") && docker?["runtime"] == str("runc"))
        #expect(top[2].1["mcq"]?["mcq"] == .map([(str("id"), str("mcq")), (str("created"), .int(0))]), "unset fields are left out")
        #expect(try AgentMessage.decode(bytes) == .hello(Self.hello))
    }

    @Test func jobStartedAndPong() throws {
        #expect(AgentMessage.jobStarted(jobID: "job-7").encode() == Python.jobStarted)
        #expect(try fields(Python.jobStarted).map(\.0) == ["job_id", "@type"])
        #expect(try AgentMessage.decode(Python.jobStarted) == .jobStarted(jobID: "job-7"))
        #expect(AgentMessage.pong.encode() == Python.pong)
        #expect(try AgentMessage.decode(Python.pong) == .pong)
    }

    static let done = AgentJobDone(
        jobID: "job-7", result: ResultText("success", "Well done"), grade: 87.5,
        problems: ["q2": ResultText("failed", "no"), "q1": ResultText("success", "ok")],
        tests: ["t": .int(3)], custom: ["k": .array([.int(1), .bool(true), .nil])], state: "s1",
        archive: [0x1f, 0x8b], stdout: nil, stderr: "err")

    @Test func jobDoneIsPackedAsTheAgentPacksIt() throws {
        let bytes = AgentMessage.jobDone(Self.done).encode()
        #expect(bytes == Python.jobDone)
        let top = try fields(bytes)
        #expect(top.map(\.0) == ["job_id", "result", "grade", "problems", "tests", "custom", "state", "archive", "stdout", "stderr", "@type"])
        #expect(top[0].1 == str("job-7"))
        #expect(top[1].1 == .array([str("success"), str("Well done")]), "result is a 2-array")
        #expect(top[2].1 == .float(87.5))
        #expect(top[3].1 == .map([(str("q1"), .array([str("success"), str("ok")])), (str("q2"), .array([str("failed"), str("no")]))]))
        #expect(top[4].1 == .map([(str("t"), .int(3))]))
        #expect(top[5].1 == .map([(str("k"), .array([.int(1), .bool(true), .nil]))]))
        #expect(top[6].1 == str("s1"))
        #expect(top[7].1 == .binary([0x1f, 0x8b]), "the archive is bin, not str")
        #expect(top[8].1 == .nil && top[9].1 == str("err"))
        #expect(try AgentMessage.decode(bytes) == .jobDone(Self.done))
    }

    @Test func aJobDoneWithNothingOptional() throws {
        let done = AgentJobDone(jobID: "j", result: ResultText("crash", "no slot"), grade: 0)
        let top = try fields(AgentMessage.jobDone(done).encode())
        #expect(top[3].1 == .map([]) && top[4].1 == .map([]) && top[5].1 == .map([]))
        #expect(top[6].1 == str("") && top[7].1 == .nil && top[8].1 == .nil && top[9].1 == .nil)
        #expect(try AgentMessage.decode(AgentMessage.jobDone(done).encode()) == .jobDone(done))
    }

    @Test func aGradedJobBecomesAJobDone() {
        let result = JobResult(result: "failed", text: "almost", grade: 66.666, problems: ["q1": ["failed", "off by one"]],
                               tests: ["n": .number(3), "ratio": .number(0.5)], custom: ["o": .object(["a": .array([.null, .string("s")])])],
                               state: "st", archive: [1], stdout: "out", stderr: nil)
        let done = AgentJobDone(jobID: "j", result)
        #expect(done.result == ResultText("failed", "almost"))
        #expect(done.grade == 66.67, "rounded to 2 decimals, as INGInious's agent sends it")
        #expect(done.problems == ["q1": ResultText("failed", "off by one")])
        #expect(done.tests == ["n": .int(3), "ratio": .float(0.5)], "a whole number is an int, as Python's json gives it")
        #expect(done.custom == ["o": .map([(str("a"), .array([.nil, str("s")]))])])
        #expect(done.state == "st" && done.archive == [1] && done.stdout == "out" && done.stderr == nil)
        #expect(AgentJobDone(jobID: "j", JobResult(result: "success")).grade == 100)
    }

    @Test func sshDebugIsPackedAsTheAgentPacksIt() throws {
        let ssh = AgentJobSSHDebug(jobID: "job-7", host: "10.0.0.1", port: 2222, user: "worker", password: "pw")
        #expect(AgentMessage.sshDebug(ssh).encode() == Python.sshDebug)
        #expect(try fields(Python.sshDebug).map(\.0) == ["job_id", "host", "port", "user", "password", "@type"])
        #expect(try AgentMessage.decode(Python.sshDebug) == .sshDebug(ssh))
    }

    @Test func aBadAgentMessageIsNamedToo() {
        var bad = try? fields(Python.jobDone)
        bad?[1].1 = .array([str("success")])
        #expect(agentError(MessagePackValue.map((bad ?? []).map { (str($0.0), $0.1) }).encode())
            == .wrongType(message: "AgentJobDone", field: "result", expected: "[str, str]", got: "array"))
        #expect(agentError(message("AgentHello", [("friendly_name", str("x")), ("available_job_slots", .int(1)),
                                                  ("available_environments", .map([(str("docker"), .map([(str("default"), .map([(str("id"), str("i"))]))]))]))]))
            == .missingField(message: "AgentHello", field: "available_environments.docker.default.created"))
        #expect(agentError(message("AgentJobDone", [("job_id", str("j"))])) == .missingField(message: "AgentJobDone", field: "result"))
    }
}
