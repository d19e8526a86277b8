import Foundation
import Testing
@testable import Grading

@Suite("JSON text read by hand (run_student's requests)")
struct JSONReaderTests {
    private func read(_ text: String) -> JSONValue? { JSONReader.value(Array(text.utf8)) }

    @Test func valuesAreReadAsJSONSerializationReadsThem() {
        #expect(read(#"{"cmd": "python3 student.py", "environment": null, "time_limit": 0, "hard_time_limit": 30, "memory_limit": 100, "share_network": false, "working_dir": "/task/student"}"#)
            == .object(["cmd": .string("python3 student.py"), "environment": .null, "time_limit": .number(0), "hard_time_limit": .number(30),
                        "memory_limit": .number(100), "share_network": .bool(false), "working_dir": .string("/task/student")]))
        #expect(read(" [1, -2.5e3, 0.25, true, null, [], {}] ") == .array([.number(1), .number(-2500), .number(0.25), .bool(true), .null, .array([]), .object([:])]))
        #expect(read(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) == .string("\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(read(#""caf\u00e9 é""#) == .string("café é"))
        // Python's json keeps the last of a key given twice.
        #expect(read(#"{"a": 1, "a": 2}"#) == .object(["a": .number(2)]))
        // A lone surrogate is no character: U+FFFD, not a crash.
        #expect(read(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test(arguments: ["", " ", "{", "}", "[1,]", "{\"a\":1,}", "{'a': 1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "\"abc",
                      "\"a\u{1}b\"", "\"\\x\"", "\"\\u12\"", "[1 2]", "{\"a\" 1}", "{1: 2}", "NaN", "Infinity", "1e999", "[] []", "/* */ 1"])
    func whatIsNotJSONIsRefused(_ text: String) {
        // Not JSON (RFC 8259): refused. (Python would take NaN and Infinity, JSONSerialization trailing commas; run_student writes neither.)
        #expect(read(text) == nil, "\(text) was taken")
    }

    /// What the writer writes, the reader reads back.
    @Test func theWritersTextReadsBack() {
        let value = JSONValue.object(["text": .string("ligne\n\t\"é\" \u{1} 😀"), "n": .number(42), "f": .number(-0.5),
                                      "list": .array([.bool(true), .null, .object(["k": .string("")])])])
        #expect(read(value.jsonText) == value)
    }

    /// A box writes the request: nesting as deep as it likes, truncations
    /// and random bytes give nil or a value, never a crash.
    @Test func hostileTextNeverCrashesTheReader() {
        #expect(read(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)) == nil)
        #expect(read(String(repeating: "[", count: JSONReader.depthLimit - 1) + String(repeating: "]", count: JSONReader.depthLimit - 1)) != nil)
        #expect(read("1" + String(repeating: "0", count: 5000)) == nil)
        let sample = Array(#"{"cmd": "a \"b\" \u00e9", "time_limit": 12, "x": [1.5e2, true, false, null, {"y": "\ud83d\ude00"}]}"#.utf8)
        for cut in 0..<sample.count {
            #expect(JSONReader.value(Array(sample[0..<cut])) == nil)
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = sample
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = JSONReader.value(bytes)
            _ = JSONReader.value((0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
    }
}
