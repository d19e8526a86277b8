import MessagePack
import Grading

// INGInious 0.9.2's back-end <-> agent messages (inginious/common/messages.py).
// A message is one MessagePack map: the dataclass's fields by their snake_case
// names, in declaration order, then "@type": the class name, as `dump` packs it.
// Python's `load` checks only that the fields are the class's; here each field's
// type is checked too, so a bad message is refused with its type and field
// named instead of failing later inside a job.

/// Why bytes are not a message this side understands.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case msgpack(MessagePackError)
    /// Not a map of str keys with a str "@type".
    case notAMessage(String)
    /// A type this side does not receive (with the types it does).
    case unknownType(String, expected: [String])
    case missingField(message: String, field: String)
    case unexpectedField(message: String, field: String)
    case duplicateField(message: String, field: String)
    /// `field` is dotted below the message's own fields (`problems.q1`).
    case wrongType(message: String, field: String, expected: String, got: String)

    public var description: String {
        switch self {
        case .msgpack(let e): "not a message: \(e)"
        case .notAMessage(let why): "not a message: \(why)"
        case .unknownType(let type, let expected): "unknown message type \"\(type)\" (expected \(expected.joined(separator: ", ")))"
        case .missingField(let message, let field): "\(message): missing field \(field)"
        case .unexpectedField(let message, let field): "\(message): unexpected field \(field)"
        case .duplicateField(let message, let field): "\(message): field \(field) appears twice"
        case .wrongType(let message, let field, let expected, let got): "\(message).\(field): expected \(expected), got \(got)"
        }
    }
}

// MARK: - Back-end to agent

/// `BackendNewJob.debug`: INGInious sends False, True or "ssh".
public enum JobDebug: Sendable, Equatable {
    case off, on, ssh
}

/// A job to grade (`BackendNewJob`).
public struct BackendNewJob: Sendable, Equatable {
    /// The back-end's id for the job: every answer about it carries it.
    public var jobID: String
    public var courseID: String
    public var taskID: String
    /// The task's problems as the back-end read them (a map; not interpreted here).
    public var taskProblems: MessagePackValue
    /// The student's input (a map: problem id -> answer, and "@state", "@username" ...).
    public var inputdata: MessagePackValue
    public var environmentType: String
    public var environment: String
    /// Limits and the like (a map: "limits", "run_cmd", "network_grading" ...).
    public var environmentParameters: MessagePackValue
    public var debug: JobDebug

    public init(jobID: String, courseID: String, taskID: String, taskProblems: MessagePackValue, inputdata: MessagePackValue,
                environmentType: String, environment: String, environmentParameters: MessagePackValue, debug: JobDebug) {
        self.jobID = jobID
        self.courseID = courseID
        self.taskID = taskID
        self.taskProblems = taskProblems
        self.inputdata = inputdata
        self.environmentType = environmentType
        self.environment = environment
        self.environmentParameters = environmentParameters
        self.debug = debug
    }
}

/// What the back-end sends an agent.
public enum BackendMessage: Sendable, Equatable {
    case newJob(BackendNewJob)
    /// `state`: the submission's state, for the "killed" answer when the job is
    /// not (or no longer) running here.
    case killJob(jobID: String, state: String)
    case ping

    static let types = ["BackendNewJob", "BackendKillJob", "Ping"]

    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> BackendMessage {
        var m = try MessageFields(bytes)
        let message: BackendMessage
        switch m.type {
        case "BackendNewJob":
            message = .newJob(BackendNewJob(
                jobID: try m.string("job_id"), courseID: try m.string("course_id"), taskID: try m.string("task_id"),
                taskProblems: try m.map("task_problems"), inputdata: try m.map("inputdata"),
                environmentType: try m.string("environment_type"), environment: try m.string("environment"),
                environmentParameters: try m.map("environment_parameters"), debug: try m.debug("debug")))
        case "BackendKillJob": message = .killJob(jobID: try m.string("job_id"), state: try m.string("state"))
        case "Ping": message = .ping
        default: throw .unknownType(m.type, expected: types)
        }
        try m.finish()
        return message
    }

    /// As the back-end packs it: what a stand-in back-end sends in tests.
    public func encode() -> [UInt8] {
        switch self {
        case .newJob(let job):
            let debug: MessagePackValue = switch job.debug {
            case .off: .bool(false)
            case .on: .bool(true)
            case .ssh: .string("ssh")
            }
            return pack("BackendNewJob", [
                ("job_id", .string(job.jobID)), ("course_id", .string(job.courseID)), ("task_id", .string(job.taskID)),
                ("task_problems", job.taskProblems), ("inputdata", job.inputdata),
                ("environment_type", .string(job.environmentType)), ("environment", .string(job.environment)),
                ("environment_parameters", job.environmentParameters), ("debug", debug),
            ])
        case .killJob(let jobID, let state): return pack("BackendKillJob", [("job_id", .string(jobID)), ("state", .string(state))])
        case .ping: return pack("Ping", [])
        }
    }
}

// MARK: - Agent to back-end

/// One environment an agent offers. The back-end reads `id` and `created` (to
/// tell versions of a name apart); INGInious's Docker agent also sends the
/// others, MCQ's agent only those two: nil fields are left out.
public struct EnvironmentInfo: Sendable, Equatable {
    /// Anything that changes when the environment does (Docker: the image id).
    public var id: String
    /// When it was built, in seconds since 1970: the newest version wins.
    public var created: Int64
    public var title: String?
    /// Ports the environment needs (22 for SSH debugging).
    public var ports: [Int]?
    public var runtime: String?

    public init(id: String, created: Int64, title: String? = nil, ports: [Int]? = nil, runtime: String? = nil) {
        self.id = id
        self.created = created
        self.title = title
        self.ports = ports
        self.runtime = runtime
    }
}

/// `AgentHello`: who the agent is, how many jobs it takes at once, and its
/// environments: type ("docker") -> name ("default") -> info.
public struct AgentHello: Sendable, Equatable {
    public var friendlyName: String
    public var availableJobSlots: Int
    public var availableEnvironments: [String: [String: EnvironmentInfo]]

    public init(friendlyName: String, availableJobSlots: Int, availableEnvironments: [String: [String: EnvironmentInfo]]) {
        self.friendlyName = friendlyName
        self.availableJobSlots = availableJobSlots
        self.availableEnvironments = availableEnvironments
    }
}

/// A result and the text shown with it: INGInious's `SPResult`, a 2-array on the wire.
public struct ResultText: Sendable, Equatable {
    /// success, failed, timeout, overflow, killed, crash, error.
    public var result: String
    public var text: String

    public init(_ result: String, _ text: String) {
        self.result = result
        self.text = text
    }
}

/// `AgentJobDone`: a job's result.
public struct AgentJobDone: Sendable, Equatable {
    public var jobID: String
    public var result: ResultText
    public var grade: Double
    /// Problem id -> its own result and text.
    public var problems: [String: ResultText]
    public var tests: [String: MessagePackValue]
    public var custom: [String: MessagePackValue]
    /// The submission's state for its next job ("" for none).
    public var state: String
    /// A gzipped tar of the job's /archive.
    public var archive: [UInt8]?
    /// Kept in debug mode only.
    public var stdout: String?
    public var stderr: String?

    public init(jobID: String, result: ResultText, grade: Double, problems: [String: ResultText] = [:],
                tests: [String: MessagePackValue] = [:], custom: [String: MessagePackValue] = [:], state: String = "",
                archive: [UInt8]? = nil, stdout: String? = nil, stderr: String? = nil) {
        self.jobID = jobID
        self.result = result
        self.grade = grade
        self.problems = problems
        self.tests = tests
        self.custom = custom
        self.state = state
        self.archive = archive
        self.stdout = stdout
        self.stderr = stderr
    }

    /// A graded job's result, its grade rounded to 2 decimals as INGInious's
    /// agent rounds it before sending. A problem whose feedback is not a pair
    /// (Grading checks that it is) gets its first element and an empty text.
    public init(jobID: String, _ job: JobResult) {
        let rounded = job.grade.magnitude < 1e15 ? (job.grade * 100).rounded(.toNearestOrEven) / 100 : job.grade
        self.init(jobID: jobID, result: ResultText(job.result, job.text), grade: rounded,
                  problems: job.problems.mapValues { ResultText($0.first ?? "", $0.count > 1 ? $0[1] : "") },
                  tests: job.tests.mapValues(MessagePackValue.init), custom: job.custom.mapValues(MessagePackValue.init),
                  state: job.state, archive: job.archive, stdout: job.stdout, stderr: job.stderr)
    }
}

/// `AgentJobSSHDebug`: where to reach a job started with debug "ssh".
public struct AgentJobSSHDebug: Sendable, Equatable {
    public var jobID: String
    public var host: String
    public var port: Int
    public var user: String
    public var password: String

    public init(jobID: String, host: String, port: Int, user: String, password: String) {
        self.jobID = jobID
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }
}

/// What an agent sends its back-end.
public enum AgentMessage: Sendable, Equatable {
    case hello(AgentHello)
    case jobStarted(jobID: String)
    case jobDone(AgentJobDone)
    case sshDebug(AgentJobSSHDebug)
    case pong

    static let types = ["AgentHello", "AgentJobStarted", "AgentJobDone", "AgentJobSSHDebug", "Pong"]

    /// As INGInious's agent packs it. Python's dicts keep their order and
    /// Swift's do not: dictionary keys are written sorted, so the same
    /// message is always the same bytes.
    public func encode() -> [UInt8] {
        switch self {
        case .hello(let hello):
            let environments: MessagePackValue = .map(hello.availableEnvironments.sorted { $0.key < $1.key }.map { type, names in
                (.string(type), .map(names.sorted { $0.key < $1.key }.map { name, info in (.string(name), info.packed) }))
            })
            return pack("AgentHello", [
                ("friendly_name", .string(hello.friendlyName)), ("available_job_slots", .int(Int64(hello.availableJobSlots))),
                ("available_environments", environments),
            ])
        case .jobStarted(let jobID): return pack("AgentJobStarted", [("job_id", .string(jobID))])
        case .jobDone(let done):
            return pack("AgentJobDone", [
                ("job_id", .string(done.jobID)), ("result", done.result.packed), ("grade", .float(done.grade)),
                ("problems", sortedMap(done.problems.mapValues(\.packed))), ("tests", sortedMap(done.tests)),
                ("custom", sortedMap(done.custom)), ("state", .string(done.state)),
                ("archive", done.archive.map { .binary($0) } ?? .nil),
                ("stdout", done.stdout.map { .string($0) } ?? .nil), ("stderr", done.stderr.map { .string($0) } ?? .nil),
            ])
        case .sshDebug(let ssh):
            return pack("AgentJobSSHDebug", [
                ("job_id", .string(ssh.jobID)), ("host", .string(ssh.host)), ("port", .int(Int64(ssh.port))),
                ("user", .string(ssh.user)), ("password", .string(ssh.password)),
            ])
        case .pong: return pack("Pong", [])
        }
    }

    /// As the back-end reads it: what a stand-in back-end reads in tests.
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> AgentMessage {
        var m = try MessageFields(bytes)
        let message: AgentMessage
        switch m.type {
        case "AgentHello":
            message = .hello(AgentHello(friendlyName: try m.string("friendly_name"), availableJobSlots: try m.int("available_job_slots"),
                                        availableEnvironments: try m.environments("available_environments")))
        case "AgentJobStarted": message = .jobStarted(jobID: try m.string("job_id"))
        case "AgentJobDone":
            message = .jobDone(AgentJobDone(
                jobID: try m.string("job_id"), result: try m.resultText("result"), grade: try m.number("grade"),
                problems: try m.problems("problems"), tests: try m.anyValues("tests"), custom: try m.anyValues("custom"),
                state: try m.string("state"), archive: try m.optionalBinary("archive"),
                stdout: try m.optionalString("stdout"), stderr: try m.optionalString("stderr")))
        case "AgentJobSSHDebug":
            message = .sshDebug(AgentJobSSHDebug(jobID: try m.string("job_id"), host: try m.string("host"), port: try m.int("port"),
                                                 user: try m.string("user"), password: try m.string("password")))
        case "Pong": message = .pong
        default: throw .unknownType(m.type, expected: types)
        }
        try m.finish()
        return message
    }
}

extension ResultText {
    var packed: MessagePackValue { .array([.string(result), .string(text)]) }
}

extension EnvironmentInfo {
    /// In the Docker agent's key order: id, title, created, ports, runtime.
    var packed: MessagePackValue {
        var pairs: [(MessagePackValue, MessagePackValue)] = [(.string("id"), .string(id))]
        if let title { pairs.append((.string("title"), .string(title))) }
        pairs.append((.string("created"), .int(created)))
        if let ports { pairs.append((.string("ports"), .array(ports.map { .int(Int64($0)) }))) }
        if let runtime { pairs.append((.string("runtime"), .string(runtime))) }
        return .map(pairs)
    }
}

extension MessagePackValue {
    /// A feedback value as Python would pack what `json.load` gave it: a whole
    /// number as an int (JSONValue no longer tells `3` from `3.0`; `3` is what
    /// run scripts write), any other number as a float.
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .nil
        case .bool(let b): self = .bool(b)
        case .string(let s): self = .string(s)
        case .number(let d): self = d.rounded() == d && d.magnitude <= 9_007_199_254_740_992 ? .int(Int64(d)) : .float(d)
        case .array(let a): self = .array(a.map(MessagePackValue.init))
        case .object(let o): self = sortedMap(o.mapValues(MessagePackValue.init))
        }
    }
}

// MARK: - Packing and reading fields

/// A message as `dump` packs it: its fields in order, "@type" last.
private func pack(_ type: String, _ fields: [(String, MessagePackValue)]) -> [UInt8] {
    MessagePackValue.map(fields.map { (.string($0.0), $0.1) } + [(.string("@type"), .string(type))]).encode()
}

private func sortedMap(_ dict: [String: MessagePackValue]) -> MessagePackValue {
    .map(dict.sorted { $0.key < $1.key }.map { (.string($0.key), $0.value) })
}

/// A message's fields, taken one by one: each read names the message and
/// the field when it fails, and `finish` refuses any field left over.
struct MessageFields {
    let type: String
    private var fields: [String: MessagePackValue]
    /// Wire order, so the first unexpected field is the one reported.
    private let order: [String]

    init(_ bytes: [UInt8]) throws(ProtocolError) {
        let value: MessagePackValue
        do { value = try MessagePackValue.decode(bytes) } catch { throw .msgpack(error) }
        guard case .map(let pairs) = value else { throw .notAMessage("the value is of type \(value.kind), not a map") }
        var fields: [String: MessagePackValue] = [:]
        var order: [String] = []
        for (key, item) in pairs {
            guard case .string(let name) = key else { throw .notAMessage("a key of type \(key.kind); field names are str") }
            guard fields[name] == nil else { throw .duplicateField(message: value["@type"]?.stringValue ?? "message", field: name) }
            fields[name] = item
            order.append(name)
        }
        guard let typeValue = fields.removeValue(forKey: "@type") else { throw .notAMessage("no \"@type\"") }
        guard case .string(let type) = typeValue else { throw .notAMessage("\"@type\" is of type \(typeValue.kind), not str") }
        self.type = type
        self.fields = fields
        self.order = order
    }

    func finish() throws(ProtocolError) {
        if let extra = order.first(where: { fields[$0] != nil }) { throw .unexpectedField(message: type, field: extra) }
    }

    private mutating func take(_ field: String) throws(ProtocolError) -> MessagePackValue {
        guard let value = fields.removeValue(forKey: field) else { throw .missingField(message: type, field: field) }
        return value
    }

    private var read: FieldReader { FieldReader(message: type) }

    mutating func string(_ f: String) throws(ProtocolError) -> String { let v = try take(f); return try read.string(v, f) }
    mutating func optionalString(_ f: String) throws(ProtocolError) -> String? { let v = try take(f); return try read.optionalString(v, f) }
    mutating func optionalBinary(_ f: String) throws(ProtocolError) -> [UInt8]? { let v = try take(f); return try read.optionalBinary(v, f) }
    mutating func int(_ f: String) throws(ProtocolError) -> Int { let v = try take(f); return try read.int(v, f) }
    mutating func number(_ f: String) throws(ProtocolError) -> Double { let v = try take(f); return try read.number(v, f) }
    mutating func map(_ f: String) throws(ProtocolError) -> MessagePackValue { let v = try take(f); return try read.map(v, f) }
    mutating func debug(_ f: String) throws(ProtocolError) -> JobDebug { let v = try take(f); return try read.debug(v, f) }
    mutating func resultText(_ f: String) throws(ProtocolError) -> ResultText { let v = try take(f); return try read.resultText(v, f) }
    mutating func problems(_ f: String) throws(ProtocolError) -> [String: ResultText] {
        let v = try take(f)
        let read = self.read
        return try read.stringKeyed(v, f) { (item, field) throws(ProtocolError) in try read.resultText(item, field) }
    }
    mutating func anyValues(_ f: String) throws(ProtocolError) -> [String: MessagePackValue] {
        let v = try take(f)
        return try read.stringKeyed(v, f) { item, _ in item }
    }
    mutating func environments(_ f: String) throws(ProtocolError) -> [String: [String: EnvironmentInfo]] {
        let v = try take(f)
        let read = self.read
        return try read.stringKeyed(v, f) { (names, typeField) throws(ProtocolError) in
            try read.stringKeyed(names, typeField) { (info, field) throws(ProtocolError) in try read.environmentInfo(info, field) }
        }
    }
}

/// Typed reads of one value of a message; `field` is its dotted name there.
struct FieldReader {
    let message: String

    private func wrong(_ field: String, _ expected: String, _ value: MessagePackValue) -> ProtocolError {
        .wrongType(message: message, field: field, expected: expected, got: value.kind)
    }

    func string(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> String {
        guard case .string(let s) = value else { throw wrong(field, "str", value) }
        return s
    }

    func optionalString(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> String? {
        if value == .nil { return nil }
        guard case .string(let s) = value else { throw wrong(field, "str or nil", value) }
        return s
    }

    func optionalBinary(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> [UInt8]? {
        if value == .nil { return nil }
        guard case .binary(let b) = value else { throw wrong(field, "bin or nil", value) }
        return b
    }

    func int(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> Int {
        guard let i = value.int64Value.flatMap({ Int(exactly: $0) }) else { throw wrong(field, "int", value) }
        return i
    }

    /// An int is a number too: Python's `round` keeps an int grade an int.
    func number(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> Double {
        if case .float(let d) = value { return d }
        guard let i = value.int64Value else { throw wrong(field, "float", value) }
        return Double(i)
    }

    func map(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> MessagePackValue {
        guard case .map = value else { throw wrong(field, "map", value) }
        return value
    }

    func debug(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> JobDebug {
        switch value {
        case .bool(false): return .off
        case .bool(true): return .on
        case .string("ssh"): return .ssh
        case .string(let other):
            throw .wrongType(message: message, field: field, expected: "false, true or \"ssh\"", got: "the str \"\(other.prefix(40))\"")
        default: throw wrong(field, "false, true or \"ssh\"", value)
        }
    }

    func resultText(_ value: MessagePackValue, _ field: String) throws(ProtocolError) -> ResultText {
        guard case .array(let pair) = value, pair.count == 2, case .string(let result) = pair[0], case .string(let text) = pair[1] else {
            throw wrong(field, "[str, str]", value)
        }
        return ResultText(result, text)
    }

    /// A map of str keys, each value read by `read` with its dotted name.
    func stringKeyed<T>(_ value: MessagePackValue, _ field: String,
                        _ read: (MessagePackValue, String) throws(ProtocolError) -> T) throws(ProtocolError) -> [String: T] {
        guard case .map(let pairs) = value else { throw wrong(field, "map", value) }
        var out: [String: T] = [:]
        for (key, item) in pairs {
            guard case .string(let name) = key else { throw wrong(field, "map of str keys", key) }
            guard out[name] == nil else { throw .duplicateField(message: message, field: "\(field).\(name)") }
            out[name] = try read(item, "\(field).\(name)")
        }
        return out
    }

    /// The back-end reads `id` and `created` and ignores the rest, so other keys are allowed.
    func environmentInfo(_ info: MessagePackValue, _ field: String) throws(ProtocolError) -> EnvironmentInfo {
        guard case .map = info else { throw wrong(field, "map", info) }
        guard let id = info["id"] else { throw .missingField(message: message, field: "\(field).id") }
        guard let created = info["created"] else { throw .missingField(message: message, field: "\(field).created") }
        var result = EnvironmentInfo(id: try string(id, "\(field).id"), created: Int64(try int(created, "\(field).created")))
        if let title = info["title"] { result.title = try string(title, "\(field).title") }
        if let runtime = info["runtime"] { result.runtime = try string(runtime, "\(field).runtime") }
        if case .array(let items)? = info["ports"] {
            var ports: [Int] = []
            for item in items { ports.append(try int(item, "\(field).ports")) }
            result.ports = ports
        } else if let other = info["ports"] {
            throw wrong("\(field).ports", "array of int", other)
        }
        return result
    }
}
