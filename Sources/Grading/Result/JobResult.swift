// Foundation, not FoundationEssentials: Yams needs it, and so does reading JSON of any shape.
import Foundation

/// A JSON value as a run script may leave it in `custom` or `tests`: kept as
/// it was written, for the back-end to pass on.
public indirect enum JSONValue: Sendable, Equatable, Codable {
    case string(String), number(Double), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var isObject: Bool { if case .object = self { true } else { false } }

    /// A value as Foundation's JSONSerialization or Yams gives it (strings,
    /// numbers, booleans, arrays, dictionaries, null); nil for anything else.
    init?(foundation value: Any) {
        switch value {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            // JSONSerialization gives booleans as NSNumbers of type "c" (char); Yams gives Bool.
            if value is Bool && isBoolean(n) { self = .bool(n.boolValue) } else { self = .number(n.doubleValue) }
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .number(Double(i))
        case let d as Double: self = .number(d)
        case is NSNull: self = .null
        case let a as [Any]:
            var items: [JSONValue] = []
            items.reserveCapacity(a.count)
            for item in a {
                guard let v = JSONValue(foundation: item) else { return nil }
                items.append(v)
            }
            self = .array(items)
        case let o as [String: Any]:
            var fields: [String: JSONValue] = [:]
            for (k, item) in o {
                guard let v = JSONValue(foundation: item) else { return nil }
                fields[k] = v
            }
            self = .object(fields)
        default:
            return nil
        }
    }
}

/// One job's result, as an INGInious agent sends it to its back-end
/// (`AgentJobDone`), with the job's phases besides.
public struct JobResult: Sendable, Equatable, Codable {
    /// success, failed, timeout, overflow, killed, crash, error; or what the run script set.
    public var result: String
    public var text: String
    public var grade: Double
    /// Problem id -> [result, text].
    public var problems: [String: [String]]
    public var tests: [String: JSONValue]
    public var custom: [String: JSONValue]
    public var state: String
    /// A gzipped tar of the grading box's /archive, when the run script gave feedback.
    public var archive: [UInt8]?
    /// The run script's output: kept in debug mode only, as INGInious does.
    public var stdout: String?
    public var stderr: String?
    /// The job's named, timed steps (ms since it was accepted).
    public var phases: [JobPhase] = []
    /// CPU time of the job's programs: the run script's and its student
    /// boxes' processes, from the job's cgroup. The job's time less this is
    /// what the platform itself took.
    public var programsCpuMs: Double?

    public init(result: String, text: String = "", grade: Double? = nil, problems: [String: [String]] = [:],
                tests: [String: JSONValue] = [:], custom: [String: JSONValue] = [:], state: String = "",
                archive: [UInt8]? = nil, stdout: String? = nil, stderr: String? = nil) {
        self.result = result
        self.text = text
        // INGInious: 100 for a success whose grade was not set, else 0.
        self.grade = grade ?? (result == "success" ? 100 : 0)
        self.problems = problems
        self.tests = tests
        self.custom = custom
        self.state = state
        self.archive = archive
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// One step of a job and when it was done, in ms since the job was accepted.
public struct JobPhase: Sendable, Equatable, Codable {
    public var name: String
    public var ms: Double
    public init(_ name: String, ms: Double) {
        self.name = name
        self.ms = ms
    }
}
