import Foundation
import Testing
@testable import Grading

@Suite("a job's files: the task copied for the worker, removed after (root)",
       .enabled(if: geteuid() == 0, "chown to the worker needs root"))
struct JobFilesTests {
    @Test func theTaskIsCopiedForTheWorkerWithoutFollowingLinks() throws {
        let course = NSTemporaryDirectory() + "gradebox-jobfiles-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: course) }
        let task = course + "/t"
        try FileManager.default.createDirectory(atPath: task + "/sub/deeper", withIntermediateDirectories: true)
        try "echo hi\n".write(toFile: task + "/run", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: task + "/run")
        try Data((0..<100_000).map { UInt8($0 % 256) }).write(to: URL(fileURLWithPath: task + "/sub/deeper/data.bin"))
        try FileManager.default.createSymbolicLink(atPath: task + "/passwd", withDestinationPath: "/etc/passwd")
        var job = GradingJob(course: course, task: "t", inputs: ["q": .text("x")])
        job.state = "s"
        let files = try JobFiles(job: job, under: NSTemporaryDirectory())
        var st = stat()
        #expect(lstat(files.task + "/run", &st) == 0 && st.st_uid == 4242 && st.st_mode & 0o777 == 0o750)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.task + "/sub/deeper/data.bin")).count == 100_000)
        #expect(lstat(files.task + "/passwd", &st) == 0 && st.st_mode & S_IFMT == S_IFLNK && st.st_uid == 4242,
                "a link is copied as a link and given to the worker itself")
        #expect(lstat("/etc/passwd", &st) == 0 && st.st_uid == 0, "never what it points to")
        #expect(lstat(files.task + "/student", &st) == 0 && st.st_uid == 4242)
        #expect(lstat(files.output, &st) == 0 && st.st_uid == 4242 && lstat(files.input, &st) == 0 && st.st_uid == 0)
        #expect(FileManager.default.fileExists(atPath: files.input + "/__inputdata.json"))
        // What the run script may leave: a link to a host file, a folder it locked itself out of.
        try FileManager.default.createSymbolicLink(atPath: files.output + "/evil", withDestinationPath: "/etc")
        try FileManager.default.createDirectory(atPath: files.task + "/locked/in", withIntermediateDirectories: true)
        chmod(files.task + "/locked", 0)
        // A name that is not UTF-8, and more entries than one getdents64 buffer holds.
        var raw = Array(files.archive.utf8) + Array("/caf".utf8) + [0xE9, 0xFF, 0]
        let made = raw.withUnsafeMutableBufferPointer { b in b.withMemoryRebound(to: CChar.self) { creat($0.baseAddress!, 0o644) } }
        #expect(made >= 0)
        close(made)
        try FileManager.default.createDirectory(atPath: files.task + "/many", withIntermediateDirectories: true)
        for i in 0..<1500 { #expect(FileManager.default.createFile(atPath: files.task + "/many/file-with-a-longish-name-\(i)", contents: nil)) }
        files.remove()
        #expect(!FileManager.default.fileExists(atPath: files.root))
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "removal never follows a link")
    }
}
