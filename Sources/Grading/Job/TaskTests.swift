import Foundation
import Yams

/// INGInious's task tester (`inginious-test-task`), on gradebox: each
/// `<task>/test/*.test` file is a submission (its `input`) with what its
/// grading gave (`result`, `text`, `problems`, `tests`, `stdout`); it is
/// graded again and compared as the tester compares it: the result exactly,
/// the text and each problem's result trimmed, each expected test tag's value.
public enum TaskTests {
    public struct Outcome: Sendable {
        public var file: String
        /// What does not match; empty when the submission grades as recorded.
        public var mismatches: [String]
        public var passed: Bool { mismatches.isEmpty }
    }

    /// The test files of `task` in `course`, sorted.
    public static func files(course: String, task: String) -> [String] {
        let dir = "\(course)/\(task)/test"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".test") }.sorted().map { "\(dir)/\($0)" }
    }

    /// Replays one test file.
    public static func replay(_ file: String, course: String, task: String, grader: Grader) async throws(GradingError) -> Outcome {
        let recorded = try load(file)
        var job = GradingJob(course: course, task: task, inputs: try inputs(recorded["input"], file: file))
        job.debug = true
        let result = await grader.grade(job)
        return Outcome(file: file, mismatches: compare(recorded, result))
    }

    static func load(_ file: String) throws(GradingError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: file) else { throw .taskFile(path: file, field: "", problem: "cannot be read") }
        let parsed: Any?
        do { parsed = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw .taskFile(path: file, field: "", problem: "not valid YAML (\(error))")
        }
        guard let map = parsed as? [String: Any] else { throw .taskFile(path: file, field: "", problem: "expected a mapping") }
        return map
    }

    static func inputs(_ raw: Any?, file: String) throws(GradingError) -> [String: GradingJob.Input] {
        guard let raw else { return [:] }
        guard let map = raw as? [String: Any] else { throw .taskFile(path: file, field: "input", problem: "expected a mapping of problem ids") }
        var inputs: [String: GradingJob.Input] = [:]
        for (id, value) in map where !id.hasPrefix("@") {
            switch value {
            case let text as String: inputs[id] = .text(text)
            case let upload as [String: Any]:
                guard let name = upload["filename"] as? String else {
                    throw .taskFile(path: file, field: "input.\(id).filename", problem: "missing")
                }
                let bytes: [UInt8]
                switch upload["value"] {
                case let data as Data: bytes = [UInt8](data)
                case let text as String: bytes = Array(text.utf8)
                default: throw .taskFile(path: file, field: "input.\(id).value", problem: "expected the file's bytes")
                }
                inputs[id] = .file(name: name, bytes: bytes)
            default:
                guard let json = JSONValue(foundation: value) else {
                    throw .taskFile(path: file, field: "input.\(id)", problem: "not a value INGInious stores")
                }
                inputs[id] = .value(json)
            }
        }
        return inputs
    }

    /// The task tester's comparison.
    static func compare(_ recorded: [String: Any], _ result: JobResult) -> [String] {
        var mismatches: [String] = []
        if let expected = recorded["result"] as? String, !expected.isEmpty, expected != result.result {
            mismatches.append("result: expected \(expected), got \(result.result)")
        }
        if let text = recorded["text"] as? String, !text.isEmpty,
           text.trimmingCharacters(in: .whitespacesAndNewlines) != result.text.trimmingCharacters(in: .whitespacesAndNewlines) {
            mismatches.append("text: expected \(text.debugDescription), got \(result.text.debugDescription)")
        }
        if let problems = recorded["problems"] as? [String: Any] {
            for (id, value) in problems.sorted(by: { $0.key < $1.key }) {
                let expected = ((value as? [Any])?.first).map { "\($0)" } ?? ""
                guard let got = result.problems[id]?.first else {
                    mismatches.append("problem \(id): expected \(expected), got no feedback")
                    continue
                }
                if expected.trimmingCharacters(in: .whitespaces) != got.trimmingCharacters(in: .whitespaces) {
                    mismatches.append("problem \(id): expected \(expected), got \(got)")
                }
            }
        }
        if let tests = recorded["tests"] as? [String: Any] {
            for (tag, value) in tests.sorted(by: { $0.key < $1.key }) {
                let expected = JSONValue(foundation: value)
                if result.tests[tag] == nil {
                    mismatches.append("test \(tag): expected \(value), got none")
                } else if expected != result.tests[tag] {
                    mismatches.append("test \(tag): expected \(value), got \(result.tests[tag]!)")
                }
            }
        }
        if let stdout = recorded["stdout"] as? String, !stdout.isEmpty, stdout != (result.stdout ?? "") {
            mismatches.append("stdout differs")
        }
        return mismatches
    }
}
