import Testing
import Foundation

/// `gradebox` built beside this test binary (swift build --build-tests builds both).
private let gradeboxBinary: String? = {
    guard let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    var dir = URL(fileURLWithPath: me).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("gradebox").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

private func gradebox(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = try #require(gradeboxBinary, "gradebox is not beside the test binary: build with `swift build --build-tests`")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The CLI as a caller meets it: a process, its output and exit code.
@Suite struct CLIProcessTests {
    @Test(arguments: [
        ["run", "--json", "--images", "/nonexistent", "--image", "nosuch", "--", "/bin/true"],
        ["run", "--json", "--bogus", "--image", "minimal", "--", "x"],
        ["run", "--json", "--image", "minimal", "--memory", "lots", "--", "x"],
    ])
    func aBadRequestWithJSONIsOneObjectOnStdout(_ argv: [String]) throws {
        let r = try gradebox(argv)
        #expect(r.status == 206)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((object?["error"] as? String)?.isEmpty == false, "stdout: \(r.stdout)")
        #expect(object?["kind"] is String)
        #expect(r.stderr.isEmpty)
    }

    @Test func aForgottenSeparatorIsExplained() throws {
        let r = try gradebox(["run", "--image", "minimal", "/bin/echo", "hi"])
        #expect(r.status == 206)
        #expect(r.stderr.contains("put the command after `--`"), "\(r.stderr)")
    }
}

@Suite struct GradeCLITests {
    @Test func aBadGradingRequestExitsTwoAndSaysWhy() throws {
        let dir = NSTemporaryDirectory() + "gradebox-grade-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/course/t", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: t\nproblems:\n  q1: {type: code}\n".write(toFile: dir + "/course/t/task.yaml", atomically: true, encoding: .utf8)
        let unknown = try gradebox(["grade", dir + "/course/t", "--input", "q9=x"])
        #expect(unknown.status == 2 && unknown.stderr.contains("has no problem q9"), "\(unknown.stderr)")
        let unreadable = try gradebox(["grade", dir + "/course/t", "--input", "q1=@" + dir + "/missing.py"])
        #expect(unreadable.status == 2 && unreadable.stderr.contains("cannot read"))
        let notATask = try gradebox(["grade", dir + "/course"])
        #expect(notATask.status == 2 && notATask.stderr.contains("task.yaml"))
        try "problems: [oops\n".write(toFile: dir + "/course/t/task.yaml", atomically: true, encoding: .utf8)
        let malformed = try gradebox(["grade", dir + "/course/t"])
        #expect(malformed.status == 2 && malformed.stderr.contains("task.yaml"))
    }
}
