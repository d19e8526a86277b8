import MessagePack
import Foundation
import Grading

/// A `BackendNewJob` made into a grading job, with the Docker agent's checks
/// and its texts (a school's students see these): what INGInious's base and
/// Docker agents answer `crash` with before a job starts.
enum JobRequest {
    static let unknownEnvironment = "This environment is not available in this agent. Please contact your course administrator."
    static let taskUnavailable = "Task unavailable on agent. Please retry later, the agents should synchronize soon. "
        + "If the error persists, please contact your course administrator."
    static let unreadableParameters = "The agent is unable to parse the parameters"
    static func notEnoughMemory(_ available: Int) -> String {
        "Not enough memory on agent (available: \(available)MB). Please contact your course administrator."
    }

    struct Refused: Error {
        var text: String
        /// For the agent's log: why, in the administrator's words.
        var detail: String
    }

    /// The grading job for `message`, or why it cannot run.
    static func make(_ message: BackendNewJob, tasks: String, environments: Set<String>, memoryPerSlotMB: Int) throws(Refused) -> GradingJob {
        guard message.environmentType == "docker", environments.contains(message.environment) else {
            throw Refused(text: unknownEnvironment, detail: "unknown environment \(message.environmentType)/\(message.environment)")
        }
        let course = tasks + "/" + message.courseID
        // On bytes: String.contains(String) and FileManager went through Foundation's NSString, for every job.
        func plain(_ id: String) -> Bool { !id.utf8.contains(UInt8(ascii: "/")) && id.utf8.first != UInt8(ascii: ".") }
        var st = stat()
        guard plain(message.courseID), plain(message.taskID), stat(course + "/" + message.taskID, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw Refused(text: taskUnavailable, detail: "no task folder \(course)/\(message.taskID)")
        }
        let settings: TaskSettings
        do {
            settings = try parameters(message.environmentParameters, environment: message.environment)
        } catch {
            throw Refused(text: unreadableParameters, detail: "environment_parameters: \(error.description)")
        }
        guard settings.limits.memoryMegabytes <= memoryPerSlotMB else {
            throw Refused(text: notEnoughMemory(memoryPerSlotMB),
                          detail: "the task asks for \(settings.limits.memoryMegabytes) MB, a slot has \(memoryPerSlotMB) MB")
        }
        var job = GradingJob(course: course, task: message.taskID, inputs: inputs(message.inputdata))
        job.settings = settings
        job.debug = message.debug != .off
        job.state = previousState(message)
        return job
    }

    /// The submission's state before this job (`@state`); a job that cannot run keeps it.
    static func previousState(_ message: BackendNewJob) -> String {
        if case .string(let state)? = message.inputdata["@state"] { return state }
        return ""
    }

    struct BadParameter: Error, CustomStringConvertible {
        var description: String
    }

    /// INGInious's reading of environment_parameters: limits.time (int, 30),
    /// limits.hard_time (3 x time when unset or 0), limits.memory (MB, 200,
    /// at least 20), run_cmd ("" for none), network_grading.
    static func parameters(_ value: MessagePackValue, environment: String) throws(BadParameter) -> TaskSettings {
        guard case .map = value else { throw BadParameter(description: "not a mapping") }
        let limits = value["limits"] ?? .map([])
        guard case .map = limits else { throw BadParameter(description: "limits: not a mapping") }
        var taskLimits = TaskLimits(inginiousTime: try int(limits["time"], "limits.time"),
                                    hardTime: try int(limits["hard_time"], "limits.hard_time"), memory: try int(limits["memory"], "limits.memory"))
        taskLimits.memoryMegabytes = max(20, taskLimits.memoryMegabytes)
        var runCommand: String?
        switch value["run_cmd"] {
        case nil, .nil?: break
        case .string(let s)?: runCommand = s.isEmpty ? nil : s
        default: throw BadParameter(description: "run_cmd: not a string")
        }
        let network: Bool
        switch value["network_grading"] {
        case nil, .nil?: network = false
        case .bool(let b)?: network = b
        case .int(let i)?: network = i != 0
        default: throw BadParameter(description: "network_grading: not a boolean")
        }
        guard taskLimits.cpuSeconds > 0, taskLimits.wallSeconds > 0 else { throw BadParameter(description: "limits: time and hard_time must be positive") }
        return TaskSettings(environmentID: environment, limits: taskLimits, runCommand: runCommand, networkGrading: network)
    }

    /// Python's int() of what the back-end sent: an int, a float (truncated) or a numeric string.
    private static func int(_ value: MessagePackValue?, _ field: String) throws(BadParameter) -> Int? {
        switch value {
        case nil, .nil?: return nil
        case .int(let i)?: return Int(clamping: i)
        case .uint(let u)?: return Int(clamping: u)
        case .float(let d)? where d.isFinite && d.magnitude < 1e15: return Int(d)
        case .string(let s)?:
            if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
            throw BadParameter(description: "\(field): \"\(s)\" is not a number")
        default: throw BadParameter(description: "\(field): not a number")
        }
    }

    /// The submission's inputs: text, files (`{filename, value: bytes}`, as
    /// the web app sends an upload) and any other answer as JSON; the
    /// platform's "@" entries too (@username, @lang, @time, @state ...).
    static func inputs(_ inputdata: MessagePackValue) -> [String: GradingJob.Input] {
        guard case .map(let pairs) = inputdata else { return [:] }
        var inputs: [String: GradingJob.Input] = [:]
        for (key, value) in pairs {
            guard case .string(let id) = key else { continue }
            if case .string(let text) = value {
                inputs[id] = .text(text)
            } else if case .map(let fields) = value, fields.count == 2, case .string(let name)? = value["filename"],
                      case .binary(let bytes)? = value["value"] {
                inputs[id] = .file(name: name, bytes: bytes)
            } else {
                inputs[id] = .value(json(value))
            }
        }
        return inputs
    }

    /// JSON of a msgpack value, as json.dumps writes what msgpack.loads gave
    /// (bytes outside a file upload cannot be JSON: read as UTF-8).
    static func json(_ value: MessagePackValue) -> JSONValue {
        switch value {
        case .nil: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(Double(i))
        case .uint(let u): return .number(Double(u))
        case .float(let d): return .number(d)
        case .string(let s): return .string(s)
        case .binary(let bytes), .ext(_, let bytes): return .string(String(decoding: bytes, as: UTF8.self))
        case .array(let items): return .array(items.map(json))
        case .map(let pairs):
            var object: [String: JSONValue] = [:]
            for (k, v) in pairs {
                if case .string(let key) = k { object[key] = json(v) } else { object["\(json(k))"] = json(v) }
            }
            return .object(object)
        }
    }
}
