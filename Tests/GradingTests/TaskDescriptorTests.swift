import Foundation
import Testing
@testable import Grading

@Suite("task.yaml, as INGInious reads it")
struct TaskDescriptorTests {
    @Test func aCurrentTaskFile() throws {
        let t = try TaskDescriptor.parse("""
            author: Someone
            name: Hello
            environment_type: docker
            environment_id: cpp
            environment_parameters:
              limits: {time: '5', hard_time: '', memory: '128'}
              run_cmd: ''
              network_grading: false
            problems:
              q2: {type: code, language: python}
              q1: {type: file}
            """, path: "c/t/task.yaml")
        #expect(t.environmentID == "cpp" && t.environmentType == "docker")
        #expect(t.limits == TaskLimits(cpuSeconds: 5, wallSeconds: 15, memoryMegabytes: 128), "hard_time unset: 3 x time")
        #expect(t.runCommand == nil && !t.networkGrading)
        #expect(t.problems.map(\.id) == ["q2", "q1"], "in file order")
        #expect(t.problems.map(\.type) == ["code", "file"])
    }

    @Test func defaultsAreINGIniousDefaults() throws {
        let t = try TaskDescriptor.parse("name: x\n", path: "task.yaml")
        #expect(t.environmentID == "default" && t.environmentType == "docker")
        #expect(t.limits == TaskLimits(cpuSeconds: 30, wallSeconds: 90, memoryMegabytes: 200))
        #expect(t.problems.isEmpty)
    }

    @Test func oldTopLevelKeysAreMigrated() throws {
        let t = try TaskDescriptor.parse("""
            environment: java
            limits: {time: 2, memory: 64, hard_time: 10}
            run_cmd: python3 /task/check.py
            network_grading: true
            """, path: "task.yaml")
        #expect(t.environmentID == "java" && t.environmentType == "docker")
        #expect(t.limits == TaskLimits(cpuSeconds: 2, wallSeconds: 10, memoryMegabytes: 64))
        #expect(t.runCommand == "python3 /task/check.py" && t.networkGrading)
        #expect(try TaskDescriptor.parse("environment: mcq\n", path: "task.yaml").environmentType == "mcq")
    }

    @Test(arguments: [
        ("environment_parameters:\n  limits: {time: abc}\n", "environment_parameters.limits.time"),
        ("environment_parameters:\n  limits: {memory: -5}\n", "environment_parameters.limits.memory"),
        ("environment_parameters: 3\n", "environment_parameters"),
        ("problems:\n  'bad id!': {type: code}\n", "problems.bad id!"),
        ("problems:\n  q1: {language: c}\n", "problems.q1.type"),
        ("environment_parameters:\n  network_grading: maybe\n", "environment_parameters.network_grading"),
    ])
    func aMalformedFieldIsNamed(_ text: String, _ field: String) {
        #expect {
            try TaskDescriptor.parse(text, path: "course/t/task.yaml")
        } throws: { error in
            guard case .taskFile(let path, let f, _) = error as? GradingError else { return false }
            return path == "course/t/task.yaml" && f == field
        }
    }

    @Test func notYAMLOrNotAMappingIsNamedToo() {
        #expect(throws: GradingError.self) { try TaskDescriptor.parse("a: [unclosed\n", path: "t.yaml") }
        #expect(throws: GradingError.taskFile(path: "t.yaml", field: "", problem: "expected a mapping of fields at the top")) {
            try TaskDescriptor.parse("- a\n- b\n", path: "t.yaml")
        }
        #expect(throws: GradingError.taskFile(path: "/nonexistent/task.yaml", field: "", problem: "cannot be read")) {
            try TaskDescriptor.load("/nonexistent/task.yaml")
        }
    }
}

@Suite("the run file, in INGInious's order")
struct RunFileTests {
    @Test func theOrderOfTheSearch() {
        #expect(RunFile.command(runCommand: "python3  /task/a.py x", exists: { _ in false }) == ["python3", "/task/a.py", "x"])
        #expect(RunFile.command(runCommand: nil, exists: { $0 == "/task/run" || $0 == "/task/run.sh" }) == ["/task/run"])
        #expect(RunFile.command(runCommand: nil, exists: { $0 == "/task/run.sh" || $0 == "/task/run.py" })
            == ["/bin/inginious-ipython", "/task/run.py"])
        #expect(RunFile.command(runCommand: "", exists: { $0 == "/course/common/run.sh" || $0 == "/course/run" })
            == ["/bin/bash", "/course/common/run.sh"])
        #expect(RunFile.command(runCommand: nil, exists: { _ in false }) == nil)
    }
}

@Suite("tasks read once, again when their task.yaml changes")
struct TaskCacheTests {
    @Test func aChangedTaskFileIsReadAgainAndAnUnchangedOneIsNot() throws {
        let dir = NSTemporaryDirectory() + "gradebox-taskcache-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/task.yaml"
        try "environment_id: first\nproblems:\n  q1:\n    type: code\n".write(toFile: path, atomically: false, encoding: .utf8)
        let cache = TaskCache()
        #expect(try cache.load(path).environmentID == "first")
        // Same size, new contents: the stamp (times, inode) tells.
        try "environment_id: other\nproblems:\n  q1:\n    type: code\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try cache.load(path).environmentID == "other")
        #expect(try cache.load(path).environmentID == "other")
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: GradingError.self) { try cache.load(path) }
    }
}

@Suite("JSON text as Python's json.dumps(sort_keys=True) writes it")
struct JSONTextTests {
    @Test func valuesAreWrittenAsPythonWritesThem() throws {
        let value = JSONValue.object([
            "b": .array([.number(1), .number(2.5), .bool(true), .null]),
            "a": .string("é \"q\" \\ \n\t\u{1}"),
            "c": .object([:]),
        ])
        #expect(value.jsonText == #"{"a": "\u00e9 \"q\" \\ \n\t\u0001", "b": [1, 2.5, true, null], "c": {}}"#)
        // And it reads back as the same value.
        let back = try JSONDecoder().decode(JSONValue.self, from: Data(value.jsonText.utf8))
        #expect(back == value)
        #expect(JSONValue.string("😀").jsonText == #""\ud83d\ude00""#)
    }
}
