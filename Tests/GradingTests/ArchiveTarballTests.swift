import Foundation
import Testing
@testable import Grading

@Suite("a job's /archive, gzipped tar made in-process")
struct ArchiveTarballTests {
    private func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "gradebox-archive-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/in/sub/deeper", withIntermediateDirectories: true)
        return dir
    }

    private func tar(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "tar \(arguments.joined(separator: " "))")
        return String(decoding: data, as: UTF8.self)
    }

    @Test func filesFoldersLinksAndLongNamesComeBackAsWritten() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = String(repeating: "n", count: 150)
        let big = (0..<200_000).map { UInt8($0 % 251) }
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: dir + "/in/a.txt"))
        try Data(big).write(to: URL(fileURLWithPath: dir + "/in/sub/deeper/big.bin"))
        try Data().write(to: URL(fileURLWithPath: dir + "/in/sub/empty"))
        try Data("long".utf8).write(to: URL(fileURLWithPath: dir + "/in/sub/" + long))
        try FileManager.default.createSymbolicLink(atPath: dir + "/in/link", withDestinationPath: "/etc/passwd")
        let tgz = try ArchiveTarball.make(of: dir + "/in")
        #expect(tgz.prefix(2) == [0x1f, 0x8b], "a gzip stream")
        try Data(tgz).write(to: URL(fileURLWithPath: dir + "/a.tgz"))
        let names = Set(try tar(["-tzf", dir + "/a.tgz"]).split(separator: "\n").map(String.init))
        #expect(names == ["a.txt", "link", "sub/", "sub/deeper/", "sub/deeper/big.bin", "sub/empty", "sub/" + long])
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        _ = try tar(["-xzf", dir + "/a.tgz", "-C", dir + "/out"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out/sub/deeper/big.bin")) == Data(big))
        #expect(try String(contentsOfFile: dir + "/out/a.txt", encoding: .utf8) == "hello\n")
        #expect(try String(contentsOfFile: dir + "/out/sub/" + long, encoding: .utf8) == "long")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/out/link") == "/etc/passwd",
                "a link is archived as a link, never followed")
    }

    @Test func anEmptyArchiveIsAValidEmptyTarball() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.removeItem(atPath: dir + "/in/sub")
        let tgz = try ArchiveTarball.make(of: dir + "/in")
        try Data(tgz).write(to: URL(fileURLWithPath: dir + "/e.tgz"))
        #expect(try tar(["-tzf", dir + "/e.tgz"]).isEmpty)
    }

    /// What the box leaves costs it little on tmpfs and the grader much in
    /// memory: a sparse file or a crowd of empty ones past the limit is
    /// refused, not read; a FIFO is left out without waiting for a writer.
    @Test func aHugeArchiveIsRefusedAndAFIFOLeftOut() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sparse = dir + "/in/sparse"
        FileManager.default.createFile(atPath: sparse, contents: nil)
        #expect(truncate(sparse, 2 << 20) == 0)
        #expect(throws: ArchiveTarball.TooLarge.self) { try ArchiveTarball.make(of: dir + "/in", limit: 1 << 20) }
        unlink(sparse)
        for i in 0..<3000 { FileManager.default.createFile(atPath: dir + "/in/sub/f\(i)", contents: nil) }
        #expect(throws: ArchiveTarball.TooLarge.self, "3000 headers of 512 bytes") { try ArchiveTarball.make(of: dir + "/in", limit: 1 << 20) }
        try FileManager.default.removeItem(atPath: dir + "/in/sub")
        #expect(mkfifo(dir + "/in/fifo", 0o600) == 0)
        try Data("kept\n".utf8).write(to: URL(fileURLWithPath: dir + "/in/kept.txt"))
        let tgz = try ArchiveTarball.make(of: dir + "/in", limit: 1 << 20)
        try Data(tgz).write(to: URL(fileURLWithPath: dir + "/f.tgz"))
        #expect(try tar(["-tzf", dir + "/f.tgz"]) == "kept.txt\n")
    }

    @Test func foldersNestedTooDeepAreRefused() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/in/" + Array(repeating: "d", count: ArchiveTarball.depthLimit + 2).joined(separator: "/"),
                                                withIntermediateDirectories: true)
        #expect(throws: ArchiveTarball.TooLarge.self) { try ArchiveTarball.make(of: dir + "/in") }
        do { _ = try ArchiveTarball.make(of: dir + "/in") } catch { #expect("\(error)".contains("nested")) }
    }
}
