import Foundation
import SystemPackage
import Testing
@testable import SandboxCore

@Suite("ImageFS removes a tree however deep, following no link")
struct ImageFSRemovalTests {
    private func scratch() throws -> String {
        // tmpfs where there is one: 30 000 folders made and removed on this host's ext4 took minutes.
        let dir = (Kernel.isTmpfs("/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()) + "gradebox-removal-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        return dir
    }

    /// A box can nest folders far deeper than a recursion per level fits a
    /// thread's stack (the grader died on 50 000): removed all the same.
    @Test func aTreeTensOfThousandsDeepIsRemoved() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let top = try ImageFS.openDirectory(dir)
        defer { ImageFS.close(top) }
        #expect(ImageFS.mkdir("deep", in: top, mode: 0o755) == nil)
        var current = try ImageFS.openDirectory("deep", in: top)
        for i in 0..<30_000 {
            #expect(ImageFS.mkdir("d", in: current, mode: 0o755) == nil)
            if i % 1000 == 0 { FileManager.default.createFile(atPath: "/proc/self/fd/\(current.rawValue)/file", contents: Data("x".utf8)) }
            let next = try ImageFS.openDirectory("d", in: current)
            ImageFS.close(current)
            current = next
        }
        #expect(ImageFS.symlink("/etc", "link", in: current) == nil)
        ImageFS.close(current)
        try ImageFS.removeTree("deep", in: top, display: dir + "/deep")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "the link was removed, not followed")
    }

    /// Each folder is listed once, its subfolders' names kept while one is
    /// emptied: a bushy tree (folders, files, links at every level) goes whole.
    @Test func aBushyTreeIsRemovedWhole() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func grow(_ path: String, _ depth: Int) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            FileManager.default.createFile(atPath: path + "/f", contents: Data("x".utf8))
            try FileManager.default.createSymbolicLink(atPath: path + "/l", withDestinationPath: "/etc")
            guard depth > 0 else { return }
            for name in ["a", "b", "c", "d"] { try grow(path + "/" + name, depth - 1) }
        }
        try grow(dir + "/tree", 4)   // 341 folders
        let top = try ImageFS.openDirectory(dir)
        defer { ImageFS.close(top) }
        try ImageFS.removeTree("tree", in: top, display: dir + "/tree")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"))
    }

    @Test func emptyDirectoryKeepsTheFolderItself() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/a/b/c", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/a/b/c/f", contents: nil)
        FileManager.default.createFile(atPath: dir + "/top", contents: nil)
        try FileManager.default.createSymbolicLink(atPath: dir + "/a/l", withDestinationPath: dir + "/top")
        let fd = try ImageFS.openDirectory(dir)
        defer { ImageFS.close(fd) }
        try ImageFS.emptyDirectory(fd, display: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir))
    }
}
