// Foundation, not FoundationEssentials: Yams needs it, and so does reading JSON of any shape.
import Foundation
import Yams
import Synchronization

/// A task as its `task.yaml` describes it, for grading: what the agent reads
/// of it (the frontend's parts, names and contexts, are not needed here).
/// Files written for INGInious before 0.7 (top-level `environment`,
/// `limits`, `run_cmd`, `network_grading`) are read as INGInious migrates them.
public struct TaskDescriptor: Sendable, Equatable {
    /// Problem ids and their types (`code`, `file`, `multiple_choice`, ...), in file order.
    public var problems: [(id: String, type: String)]
    /// `docker` for a grading container; `mcq` is graded by INGInious's frontend, not an agent.
    public var environmentType: String
    /// The environment's name (an image's `org.inginious.grading.name`); `default` when unset.
    public var environmentID: String
    public var limits: TaskLimits
    /// Replaces the run file when set (split on spaces, as INGInious does).
    public var runCommand: String?
    /// The grading box gets the host's network (INGInious: network_grading).
    public var networkGrading: Bool
    /// Every environment parameter as written, for what the fields above do not name.
    public var rawParameters: [String: String]

    public static func == (a: TaskDescriptor, b: TaskDescriptor) -> Bool {
        a.problems.map(\.id) == b.problems.map(\.id) && a.problems.map(\.type) == b.problems.map(\.type)
            && a.environmentType == b.environmentType && a.environmentID == b.environmentID && a.limits == b.limits
            && a.runCommand == b.runCommand && a.networkGrading == b.networkGrading && a.rawParameters == b.rawParameters
    }

    /// The inputs that name no problem of the task, sorted. "@..." inputs
    /// are the platform's (@username, @lang, @time, @random ...), not problems.
    public func unknownInputs<S: Sequence>(_ ids: S) -> [String] where S.Element == String {
        ids.filter { id in !id.hasPrefix("@") && !problems.contains { $0.id == id } }.sorted()
    }

    /// Reads `task.yaml` at `path`.
    public static func load(_ path: String) throws(GradingError) -> TaskDescriptor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .taskFile(path: path, field: "", problem: "cannot be read")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    /// Parses the text of a `task.yaml`; `path` names it in errors.
    public static func parse(_ text: String, path: String) throws(GradingError) -> TaskDescriptor {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw .taskFile(path: path, field: "", problem: "not valid YAML (\(error))")
        }
        guard let content = root as? [String: Any] else {
            throw .taskFile(path: path, field: "", problem: "expected a mapping of fields at the top")
        }
        let fields = FieldReader(path: path)
        let migrated = migrate(content)

        var problems: [(id: String, type: String)] = []
        if let raw = migrated["problems"] {
            guard let map = raw as? [String: Any] else { throw .taskFile(path: path, field: "problems", problem: "expected a mapping of problem ids") }
            // Yams keeps no order in a Swift dictionary: file order comes from the text.
            for id in orderedKeys(of: "problems", in: text, fallback: map.keys.sorted()) where map[id] != nil {
                guard InginiousIDs.isValid(id) else {
                    throw .taskFile(path: path, field: "problems.\(id)", problem: "problem ids are made of letters, digits, -, _ and .")
                }
                let problem = map[id] as? [String: Any]
                guard let type = problem?["type"] as? String else {
                    throw .taskFile(path: path, field: "problems.\(id).type", problem: "missing, or not a string")
                }
                problems.append((id, type))
            }
        }

        let environmentType = try fields.string(migrated, "environment_type") ?? "docker"
        let environmentID = try fields.string(migrated, "environment_id") ?? "default"
        let parameters = try fields.mapping(migrated, "environment_parameters") ?? [:]
        let limitsMap = try fields.mapping(parameters, "limits", prefix: "environment_parameters") ?? [:]
        let time = try fields.number(limitsMap, "time", prefix: "environment_parameters.limits")
        let hardTime = try fields.number(limitsMap, "hard_time", prefix: "environment_parameters.limits")
        let memory = try fields.number(limitsMap, "memory", prefix: "environment_parameters.limits")
        if let time, !(time > 0) { throw .taskFile(path: path, field: "environment_parameters.limits.time", problem: "must be positive, got \(time)") }
        if let memory, !(memory > 0) { throw .taskFile(path: path, field: "environment_parameters.limits.memory", problem: "must be positive, got \(memory)") }
        if let hardTime, !(hardTime > 0) {
            throw .taskFile(path: path, field: "environment_parameters.limits.hard_time", problem: "must be positive, got \(hardTime)")
        }
        let runCommand = try fields.string(parameters, "run_cmd", prefix: "environment_parameters")
        let network = try fields.bool(parameters, "network_grading", prefix: "environment_parameters") ?? false
        var raw: [String: String] = [:]
        for (k, v) in parameters where !(v is [String: Any]) { raw[k] = "\(v)" }

        return TaskDescriptor(
            problems: problems, environmentType: environmentType, environmentID: environmentID,
            // INGInious: whole seconds and megabytes (int()).
            limits: TaskLimits(inginiousTime: time.map(Int.init), hardTime: hardTime.map(Int.init), memory: memory.map(Int.init)),
            runCommand: runCommand.flatMap { $0.isEmpty ? nil : $0 }, networkGrading: network, rawParameters: raw)
    }

    /// INGInious's `_migrate_from_v_0_6`: old top-level keys into `environment_*`.
    static func migrate(_ content: [String: Any]) -> [String: Any] {
        guard let environment = content["environment"] else { return content }
        var c = content
        c["environment_id"] = environment
        c["environment_type"] = (environment as? String) == "mcq" ? "mcq" : "docker"
        c["environment"] = nil
        c["environment_parameters"] = [
            "limits": content["limits"] ?? [String: Any](),
            "run_cmd": content["run_cmd"] ?? "",
            "network_grading": content["network_grading"] ?? false,
        ] as [String: Any]
        return c
    }

    /// The keys of the top-level mapping `field`, in the order the text gives them.
    static func orderedKeys(of field: String, in text: String, fallback: [String]) -> [String] {
        guard let node = try? Yams.compose(yaml: text), let top = node.mapping,
              let inner = top[Node(field)]?.mapping else { return fallback }
        return inner.keys.compactMap(\.string)
    }
}

/// A task's limits, as INGInious gives them to its containers.
public struct TaskLimits: Sendable, Equatable, Codable {
    /// CPU time, seconds.
    public var cpuSeconds: Int
    /// Wall time, seconds (INGInious's hard_time).
    public var wallSeconds: Int
    public var memoryMegabytes: Int

    public init(cpuSeconds: Int, wallSeconds: Int, memoryMegabytes: Int) {
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.memoryMegabytes = memoryMegabytes
    }

    /// As INGInious reads a task's limits (task.yaml, or what its back-end
    /// sends): time 30 s and memory 200 MB when unset, hard_time 3 x time
    /// when unset or 0. Each caller checks the values its own way.
    public init(inginiousTime time: Int?, hardTime: Int?, memory: Int?) {
        let cpu = time ?? 30
        self.init(cpuSeconds: cpu, wallSeconds: hardTime.flatMap { $0 == 0 ? nil : $0 } ?? cpu * 3, memoryMegabytes: memory ?? 200)
    }
}

/// INGInious's id checks (`id_checker`): problems, custom fields, tests.
public enum InginiousIDs {
    /// `[a-z0-9\-_\.]+`, case-insensitive (INGInious matches with re.IGNORECASE).
    public static func isValid(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { c in
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45 || c == 95 || c == 46
        }
    }
}

/// Typed reads of YAML fields, each error naming the file and the dotted field.
struct FieldReader {
    let path: String

    private func name(_ key: String, _ prefix: String?) -> String { prefix.map { "\($0).\(key)" } ?? key }

    func string(_ map: [String: Any], _ key: String, prefix: String? = nil) throws(GradingError) -> String? {
        guard let v = map[key], !(v is NSNull) else { return nil }
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        throw .taskFile(path: path, field: name(key, prefix), problem: "expected a string, got \(v)")
    }

    func number(_ map: [String: Any], _ key: String, prefix: String? = nil) throws(GradingError) -> Double? {
        guard let v = map[key], !(v is NSNull) else { return nil }
        if let i = v as? Int { return Double(i) }
        if let d = v as? Double, d.isFinite { return d }
        // INGInious's editor writes limits as strings ("30").
        if let s = v as? String {
            if s.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
            if let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite { return d }
        }
        throw .taskFile(path: path, field: name(key, prefix), problem: "expected a number, got \(v)")
    }

    func bool(_ map: [String: Any], _ key: String, prefix: String? = nil) throws(GradingError) -> Bool? {
        guard let v = map[key], !(v is NSNull) else { return nil }
        if let b = v as? Bool { return b }
        if let s = v as? String, ["true", "false"].contains(s.lowercased()) { return s.lowercased() == "true" }
        throw .taskFile(path: path, field: name(key, prefix), problem: "expected true or false, got \(v)")
    }

    func mapping(_ map: [String: Any], _ key: String, prefix: String? = nil) throws(GradingError) -> [String: Any]? {
        guard let v = map[key], !(v is NSNull) else { return nil }
        if let m = v as? [String: Any] { return m }
        throw .taskFile(path: path, field: name(key, prefix), problem: "expected a mapping, got \(v)")
    }
}

/// Tasks read so far, each parsed again only when its task.yaml changed.
final class TaskCache: Sendable {
    private let files = FileStampCache<TaskDescriptor>()

    func load(_ path: String) throws(GradingError) -> TaskDescriptor {
        try files.value(at: path) { () throws(GradingError) in try TaskDescriptor.load(path) }
    }
}
