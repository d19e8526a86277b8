// Foundation, not FoundationEssentials: Yams needs it, and so does reading JSON of any shape.
import Foundation

/// Turns what a grading box left (`/.__output/__feedback.json`, its archive,
/// the run script's output) into the job's result, as INGInious's container
/// runner and Docker agent do together: the same checks, the same crash
/// texts, the same defaults.
public enum Feedback {
    /// How the job ended, before its feedback is read.
    public enum Ending: Sendable, Equatable {
        /// The run script ran to its end.
        case ran
        /// A limit or a kill ended it: timeout, overflow, killed. Its feedback is not read.
        case stopped(String)
        /// No run file was found.
        case noRunFile
        /// The run script could not be started.
        case notStarted
    }

    /// The texts INGInious gives its crashes, word for word.
    public enum Text {
        public static let noFeedback = "No feedback was given !"
        public static let noRunFile = "'/task/run' could not be found"
        public static let notStarted = "An error occured while running the grading script. It is possible that it is non-executable or made a timeout"
        public static let badlyFormatted = "Feedback file is badly formatted."
        static func unreadable(_ why: String) -> String { "The grader did not return a readable output : \(why)" }
        static func exception(_ why: String) -> String { "Exception occured in container (\(why))" }
    }

    /// The result. `feedback`: the bytes of __feedback.json; `previousState`:
    /// the submission's `@state`, kept when the job is stopped; `stdout`,
    /// `stderr`: the run script's, kept in `debug` mode.
    public static func result(_ ending: Ending, feedback: [UInt8], archive: [UInt8]?, previousState: String = "",
                              debug: Bool = false, stdout: [UInt8] = [], stderr: [UInt8] = []) -> JobResult {
        let out = debug ? String(decoding: stdout, as: UTF8.self) : nil
        let err = debug ? String(decoding: stderr, as: UTF8.self) : nil
        switch ending {
        case .stopped(let why):
            return JobResult(result: why, state: previousState)
        case .noRunFile, .notStarted:
            // The runner set the crash in the feedback file and went on to read it.
            var r = JobResult(result: "crash", text: ending == .noRunFile ? Text.noRunFile : Text.notStarted, stdout: out, stderr: err)
            r.archive = archive
            return r
        case .ran:
            break
        }
        let object: [String: JSONValue]
        if feedback.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x09 || $0 == 0x0d }) {
            object = [:]
        } else {
            // UTF-8 as Python reads the file, and JSON as its json module
            // does (by JSONReader: JSONSerialization, its NSNumbers and
            // bridging, was a twentieth of the grader's user time a job).
            guard String(validating: feedback, as: UTF8.self) != nil, case .object(let dict)? = JSONReader.value(feedback) else {
                return JobResult(result: "crash", text: Text.exception("the feedback file is not a JSON object"))
            }
            object = dict
        }
        if object.isEmpty {
            return JobResult(result: "crash", text: Text.noFeedback, stdout: out, stderr: err)
        }
        do {
            var r = try validated(object)
            r.archive = archive
            if debug {
                r.stdout = out
                r.stderr = err
            }
            return r
        } catch {
            return JobResult(result: "crash", text: Text.unreadable((error as? Unreadable)?.message ?? "\(error)"))
        }
    }

    private struct Unreadable: Error {
        var message: String
    }

    /// The Docker agent's check of the returned fields: known keys, their
    /// types, and the ids of problems and tests.
    private static func validated(_ object: [String: JSONValue]) throws -> JobResult {
        let known: Set<String> = ["stdout", "stderr", "result", "text", "grade", "problems", "custom", "tests", "state", "archive"]
        for key in object.keys where !known.contains(key) {
            throw Unreadable(message: "'\(key)'")   // Python's KeyError, as str()
        }
        func string(_ key: String) throws -> String? {
            guard let v = object[key] else { return nil }
            guard case .string(let s) = v else { throw Unreadable(message: Text.badlyFormatted) }
            return s
        }
        func map(_ key: String, ids: (String) -> Bool, checked: Bool) throws -> [String: JSONValue] {
            guard let v = object[key] else { return [:] }
            guard case .object(let m) = v else { throw Unreadable(message: Text.badlyFormatted) }
            if checked {
                for (id, item) in m {
                    if !ids(id) { throw Unreadable(message: Text.badlyFormatted) }
                    if case .object = item { throw Unreadable(message: Text.badlyFormatted) }
                }
            }
            return m
        }
        var grade: Double?
        if let g = object["grade"] {
            // JSON has one number type; a bool is not a grade.
            guard case .number(let n) = g else { throw Unreadable(message: Text.badlyFormatted) }
            grade = n
        }
        _ = try string("stdout")
        _ = try string("stderr")
        _ = try string("archive")
        let problemsRaw = try map("problems", ids: InginiousIDs.isValid, checked: true)
        var problems: [String: [String]] = [:]
        for (id, value) in problemsRaw {
            if case .array(let pair) = value { problems[id] = pair.map(\.problemText) } else { problems[id] = [value.problemText] }
        }
        let tests = try map("tests", ids: InginiousIDs.isValidTest, checked: true)
        let custom = try map("custom", ids: InginiousIDs.isValid, checked: false)
        return JobResult(result: try string("result") ?? "error", text: try string("text") ?? "", grade: grade, problems: problems,
                         tests: tests, custom: custom, state: try string("state") ?? "")
    }
}

private extension JSONValue {
    /// A problem's status or text as it was shown when read through
    /// Foundation (a string as it is, 1 for 1.0, true as 1, null as
    /// "<null>"); INGInious's own are strings.
    var problemText: String {
        switch self {
        case .string(let s): return s
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case .bool(let b): return b ? "1" : "0"
        case .null: return "<null>"
        case .array, .object: return jsonText
        }
    }
}

/// JSONSerialization gives `true` and `false` as NSNumbers too: of type "c" (char).
func isBoolean(_ n: NSNumber) -> Bool {
    String(cString: n.objCType) == "c"
}

extension InginiousIDs {
    /// Test ids may also hold `*` (INGInious's `id_checker_tests`).
    public static func isValidTest(_ id: String) -> Bool {
        isValid(id.replacingOccurrences(of: "*", with: "a"))
    }
}
