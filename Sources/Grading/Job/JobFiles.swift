import Foundation
import SandboxCore
import SystemPackage

/// A job's own files on the host, removed after it: a copy of the task
/// (INGInious gives each job a fresh /task, writable by the worker), its
/// inputs, and empty output, archive and socket folders.
///
/// Made and removed with *at() syscalls (`ImageFS`): Foundation's
/// FileManager copy, enumeration and removal were 1.5 ms of a 7 ms job.
/// The task is a fresh copy rather than a copy-on-write overlay: a task
/// folder is a few small files, and a copy needs no mount to undo.
struct JobFiles {
    let root: String
    var task: String { root + "/task" }
    var input: String { root + "/input" }
    var output: String { root + "/output" }
    var archive: String { root + "/archive" }
    var sockets: String { root + "/sockets" }

    /// INGInious's worker: the run script's user, owner of /task, the output and the archive.
    static let worker: (UInt32, UInt32) = (4242, 4242)

    init(job: GradingJob, under parent: String) throws {
        // 64 random bits (getrandom(2); Foundation's UUID opened /dev/urandom for every job).
        root = "\(parent)/\(Self.prefix)\(getpid())-\(String(UInt64.random(in: .min ... .max), radix: 16))"
        do {
            try Self.make(root, job: job)
        } catch {
            Self.removeTree(root)
            throw GradingError.sandbox("preparing the job's files in \(root): \(error)")
        }
    }

    private static func make(_ root: String, job: GradingJob) throws {
        guard mkdir(root, 0o700) == 0 else { throw SandboxError.syscall("mkdir(\(root))", errno: errno) }
        let dir = try ImageFS.openDirectory(root)
        defer { ImageFS.close(dir) }
        // By name below a folder only this process writes to (0700, just
        // made): no descriptor per folder.
        func folder(_ name: String, owner: (UInt32, UInt32)?, mode: UInt32 = 0o755) throws {
            let display = "\(root)/\(name)"
            if let e = ImageFS.mkdir(name, in: dir, mode: mode) { throw SandboxError.syscall("mkdirat(\(display))", errno: e.rawValue) }
            try ImageFS.chmod(name, in: dir, mode: mode, display: display)   // past the umask
            if let (uid, gid) = owner { try ImageFS.chown(name, in: dir, uid: uid, gid: gid, display: display) }
        }
        // The run script writes its feedback and archive. The grader's
        // run_student sockets are made in /sockets, and INGInious's own
        // run_student makes its socket there as the worker (its mode, as INGInious's agent sets it).
        for (name, owner) in [("input", nil), ("output", worker), ("archive", worker)] as [(String, (UInt32, UInt32)?)] {
            try folder(name, owner: owner)
        }
        try folder("sockets", owner: nil, mode: 0o777)
        try folder("task", owner: worker)
        let task = try ImageFS.openDirectory("task", in: dir, display: root + "/task")
        defer { ImageFS.close(task) }
        let source = try ImageFS.openDirectory(job.taskDirectory)
        defer { ImageFS.close(source) }
        try ImageFS.copyTree(source, into: task, owner: worker, display: job.taskDirectory)
        // What run_student shares with the student boxes (the task may have one already).
        if ImageFS.mkdir("student", in: task, mode: 0o755) == nil {
            try ImageFS.chown("student", in: task, uid: worker.0, gid: worker.1, display: "\(root)/task/student")
        }
        let input = try ImageFS.openDirectory("input", in: dir, display: root + "/input")
        defer { ImageFS.close(input) }
        try InputData.write(job.inputs, state: job.state, debug: job.debug, into: input, display: root + "/input")
        // As INGInious's container has it on a shared-kernel runtime (Docker's runc, crun): INGInious's
        // own run_student then hands its descriptors over a socket (StockRunStudentServer serves that).
        try InputData.create("__shared_kernel", in: input, bytes: [], display: root + "/input/__shared_kernel")
    }

    func remove() { Self.removeTree(root) }

    /// A job's folder is named for the process grading it: gradebox-job-<pid>-<uuid>.
    static let prefix = "gradebox-job-"

    /// Removes the job folders under `parent` of grading processes that are
    /// gone (killed mid-job: their boxes died with them, their files did not).
    static func removeLeftovers(under parent: String) -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            removeTree(parent + "/" + name)
            removed += 1
        }
        return removed
    }

    /// rm -rf of the job's folder, descending without following a link the run script made.
    private static func removeTree(_ root: String) {
        let slash = root.lastIndex(of: "/") ?? root.startIndex
        let parent = String(root[..<slash]), name = String(root[root.index(after: slash)...])
        guard let dir = try? ImageFS.openDirectory(parent.isEmpty ? "/" : parent) else { return }
        defer { ImageFS.close(dir) }
        try? ImageFS.removeTree(name, in: dir, display: root)
    }

    /// /task/student for a student box: a descriptor (O_PATH) of the folder
    /// as the run script left it, its bind's source as /proc/self/fd/N. The
    /// run script owns /task and may have put anything there: the grader
    /// binds as root on the host, so a symlink is refused, never followed
    /// (a link to / gave the student box the host's root), and the folder is
    /// made again if it is gone (Docker makes a bind's missing source too).
    /// nil when it is not a folder. The caller closes it after the launch.
    func studentFolder() -> Int32? {
        guard let task = try? ImageFS.openDirectory(self.task) else { return nil }
        defer { ImageFS.close(task) }
        func open() -> Int32 { ImageFS.retrying { openat(task.rawValue, "student", ImageFS.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } }
        var fd = open()
        if fd < 0 && errno == ENOENT {
            guard ImageFS.mkdir("student", in: task, mode: 0o755) == nil,
                  (try? ImageFS.chown("student", in: task, uid: Self.worker.0, gid: Self.worker.1, display: self.task + "/student")) != nil
            else { return nil }
            fd = open()
        }
        return fd >= 0 ? fd : nil
    }

    /// The most of __feedback.json a result takes: INGInious keeps a
    /// submission's result in one MongoDB document, at most 16 MiB.
    static let feedbackLimit = 16 << 20

    /// Why the feedback file could not be taken, in the words of the result's crash text.
    struct UnreadableFeedback: Error {
        var why: String
    }

    /// /.__output/__feedback.json as the run script left it; [] when there is
    /// none. The grader reads it as root on the host, so a symlink the box
    /// made there is refused, not followed (it would put a host file in the
    /// result), and so is anything but a regular file (a FIFO would hold
    /// the job) or a file past `feedbackLimit` (a sparse one costs the box nothing).
    func feedback() throws -> [UInt8] {
        let dir = try ImageFS.openDirectory(output)
        defer { ImageFS.close(dir) }
        let fd = ImageFS.retrying { openat(dir.rawValue, "__feedback.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 {
            switch errno {
            case ENOENT: return []
            case ELOOP: throw UnreadableFeedback(why: "the feedback file is a symbolic link")
            default: throw SandboxError.syscall("openat(\(output)/__feedback.json)", errno: errno)
            }
        }
        let file = FileDescriptor(rawValue: fd)
        defer { ImageFS.close(file) }
        let st = try ImageFS.stat(file, display: output + "/__feedback.json")
        guard st.kind == ImageFS.Kind.regular else { throw UnreadableFeedback(why: "the feedback file is not a regular file") }
        guard st.size <= Self.feedbackLimit else { throw UnreadableFeedback(why: "the feedback file is larger than 16 MiB") }
        // Its size as fstat gave it, and a byte more to see whether it grew since (a process left behind may still write).
        var bytes = [UInt8](repeating: 0, count: Int(st.size) + 1)
        var filled = 0
        while filled < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { b in
                try ImageFS.read(file, into: UnsafeMutableRawBufferPointer(rebasing: b[filled...]), display: output + "/__feedback.json")
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= Int(st.size) else { throw UnreadableFeedback(why: "the feedback file was still being written") }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    /// /archive as INGInious sends it: a gzipped tar of its contents.
    func archiveTarball() throws -> [UInt8] { try ArchiveTarball.make(of: archive) }
}
