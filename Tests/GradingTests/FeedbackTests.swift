import Foundation
import Testing
@testable import Grading

private func feedback(_ json: String, _ ending: Feedback.Ending = .ran, debug: Bool = false) -> JobResult {
    Feedback.result(ending, feedback: Array(json.utf8), archive: [1, 2, 3], previousState: "old", debug: debug,
                    stdout: Array("out".utf8), stderr: Array("err".utf8))
}

@Suite("feedback -> result, as INGInious's runner and agent make it")
struct FeedbackTests {
    @Test func aSuccessWithoutAGradeIs100AndAFailureIs0() {
        let ok = feedback(#"{"result": "success", "text": "well done"}"#)
        #expect(ok.result == "success" && ok.grade == 100 && ok.text == "well done" && ok.archive == [1, 2, 3])
        #expect(feedback(#"{"result": "failed"}"#).grade == 0)
        #expect(feedback(#"{"result": "failed", "grade": 42.5}"#).grade == 42.5)
        #expect(feedback(#"{"text": "no result"}"#).result == "error", "a missing result is an error")
    }

    @Test func problemsTestsCustomAndStateArePassedOn() {
        let r = feedback(#"{"result": "failed", "problems": {"q1": ["failed", "wrong"], "Q.2": ["success", ""]}, "tests": {"t*1": 3},"#
            + #" "custom": {"any": {"nested": [1, true]}}, "state": "s2"}"#)
        #expect(r.problems == ["q1": ["failed", "wrong"], "Q.2": ["success", ""]])
        #expect(r.tests == ["t*1": .number(3)])
        #expect(r.custom == ["any": .object(["nested": .array([.number(1), .bool(true)])])])
        #expect(r.state == "s2")
    }

    @Test func noFeedbackIsACrash() {
        for empty in ["", "  \n", "{}"] {
            let r = feedback(empty)
            #expect(r.result == "crash" && r.text == "No feedback was given !" && r.grade == 0)
        }
        let debug = feedback("", debug: true)
        #expect(debug.stdout == "out" && debug.stderr == "err", "debug mode keeps the run script's output")
        #expect(feedback("").stdout == nil)
    }

    @Test(arguments: [
        #"{"result": "success", "extra": 1}"#,
        #"{"result": 3}"#,
        #"{"result": "success", "grade": "high"}"#,
        #"{"result": "success", "grade": true}"#,
        #"{"result": "success", "problems": {"bad id": ["success", ""]}}"#,
        #"{"result": "success", "problems": {"q1": {"result": "success"}}}"#,
        #"{"result": "success", "problems": []}"#,
    ])
    func aBadlyFormattedFileIsACrashThatSaysSo(_ json: String) {
        let r = feedback(json)
        #expect(r.result == "crash")
        #expect(r.text.hasPrefix("The grader did not return a readable output : "), "\(r.text)")
    }

    @Test func notJSONIsACrashToo() {
        let r = feedback("{not json")
        #expect(r.result == "crash" && r.text.hasPrefix("Exception occured in container"))
        // As Python's json reads the file: no trailing comma, UTF-8 only.
        #expect(feedback(#"{"result": "success",}"#).result == "crash")
        let latin1 = Feedback.result(.ran, feedback: Array(#"{"result": "success", "text": "caf"#.utf8) + [0xE9] + Array(#""}"#.utf8),
                                     archive: nil)
        #expect(latin1.result == "crash" && latin1.text.hasPrefix("Exception occured in container"))
        #expect(feedback(#"{"result": "success", "text": "caf\u00e9 ☕"}"#).text == "café ☕")
    }

    /// Problems' values are shown as they were read through Foundation before (INGInious's own are strings).
    @Test func problemValuesOfOtherTypesBecomeText() {
        let r = feedback(#"{"result": "failed", "problems": {"q1": [1, 2.5, true, null], "q2": 3}}"#)
        #expect(r.problems == ["q1": ["1", "2.5", "1", "<null>"], "q2": ["3"]])
    }

    @Test func aStoppedJobKeepsItsPreviousStateAndReadsNoFeedback() {
        let r = feedback(#"{"result": "success"}"#, .stopped("timeout"))
        #expect(r.result == "timeout" && r.state == "old" && r.grade == 0 && r.archive == nil)
        #expect(feedback("", .noRunFile).text == "'/task/run' could not be found")
        #expect(feedback("", .notStarted).result == "crash")
    }

    @Test func foundationValuesBecomeJSONValuesWithBooleansKeptApartFromNumbers() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"t": true, "f": false, "one": 1, "zero": 0, "x": 1.5, "n": null, "a": ["s", [2]]}"#.utf8))
        #expect(JSONValue(foundation: parsed) == .object([
            "t": .bool(true), "f": .bool(false), "one": .number(1), "zero": .number(0), "x": .number(1.5), "n": .null,
            "a": .array([.string("s"), .array([.number(2)])]),
        ]))
        // As Yams gives them: Swift's own types.
        let swift: [String: Any] = ["b": true, "i": 3, "d": 2.5, "s": "x", "list": [false, 0] as [Any]]
        #expect(JSONValue(foundation: swift) == .object([
            "b": .bool(true), "i": .number(3), "d": .number(2.5), "s": .string("x"), "list": .array([.bool(false), .number(0)]),
        ]))
        #expect(JSONValue(foundation: Date()) == nil)
    }
}
