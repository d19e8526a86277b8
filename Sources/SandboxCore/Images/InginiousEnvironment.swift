#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The build of `inginious-default`, INGInious's default grading environment,
/// from Debian's packages and PyPI only (no registry is reachable): what its
/// Dockerfiles (base-containers/base and default in the `inginious` sdist) put
/// in a Rocky Linux image, put in Debian bookworm minbase instead. Nothing of
/// INGInious is kept in this repository: its in-box files are taken from the
/// sdist at build time.
package enum InginiousEnvironment {
    /// The INGInious release whose in-box API the environment carries: the
    /// one whose back-end protocol `gradebox agent` speaks.
    static let version = "0.9.2"

    /// What INGInious's base image installs that a run script or a student
    /// program uses, as Debian names it.
    static let packages = [
        "python3", "python3-msgpack", "python3-zmq", "python3-jinja2", "python3-yaml", "python3-ipython",
        "bash", "coreutils", "gcc", "make", "libc6-dev", "procps", "zip", "unzip", "file", "bc", "jq",
    ]

    /// The mount points a grading box or a student box needs in a read-only root.
    static let mountPoints = ["task", "task/student", "course", "course/common", "course/common/student",
                              ".__input", ".__output", "archive", "sockets"]

    static let labels = ["org.inginious.grading.name": "default", "org.inginious.grading.agent_version": "3"]

    static func build(_ store: ImageStore, name: String, replace: Bool,
                      progress: (@Sendable (String) -> Void)?) async throws(SandboxError) -> ImageInfo {
        guard ImageFS.isRoot else {
            throw .hostUnsupported("building \(name) runs debootstrap, which needs root")
        }
        let inbox = try inboxProgram()
        if ImageTools.which("debootstrap") == nil { try await ImageStore.aptInstall("debootstrap", progress: progress) }
        let sdist = try await fetchSdist(progress: progress)
        defer { try? FileManager.default.removeItem(atPath: sdist.directory) }
        let mirror = ImageStore.debianMirror()
        return try await store.create(name: name, replace: replace, progress: progress) { (staging) async throws(SandboxError) -> (String, ImageFormat) in
            let arguments = ["--variant=minbase", "bookworm", staging.rootfsPath, mirror]
            progress?("debootstrap " + arguments.joined(separator: " "))
            try await ImageTools.stream("debootstrap", arguments, progress: progress)
            // The packages with apt in the new tree: debootstrap's --include fails
            // to configure python3 packages in a minbase tree (python3-zmq here).
            let rootfs = staging.rootfsPath
            do {
                try "#!/bin/sh\nexit 101\n".write(toFile: rootfs + "/usr/sbin/policy-rc.d", atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: rootfs + "/usr/sbin/policy-rc.d")
            } catch { throw .syscall("write(\(rootfs)/usr/sbin/policy-rc.d)", errno: EIO) }
            let apt = ["DEBIAN_FRONTEND": "noninteractive"]
            progress?("apt-get install " + packages.joined(separator: " "))
            try await ImageTools.stream("chroot", [rootfs, "apt-get", "install", "-y", "-q", "--no-install-recommends"] + packages,
                                        environment: apt, progress: progress)
            try await ImageTools.stream("chroot", [rootfs, "apt-get", "clean"], environment: apt, progress: progress)
            try? FileManager.default.removeItem(atPath: rootfs + "/usr/sbin/policy-rc.d")
            try ImageStore.removeDownloadedPackages(staging.rootfs, display: staging.rootfsPath)
            try install(sdist.base, inbox: inbox, into: staging.rootfsPath, progress: progress)
            staging.labels = labels
            return ("debootstrap --variant=minbase bookworm \(mirror) + apt-get install \(packages.joined(separator: " ")) + inginious==\(version) base-containers/base + gradebox-inbox", .debootstrap)
        }
    }

    /// `pip download --no-deps --no-binary :all: inginious==VERSION`, unpacked;
    /// `base` is its base-containers/base directory.
    static func fetchSdist(progress: (@Sendable (String) -> Void)?) async throws(SandboxError) -> (directory: String, base: String) {
        let dir = "/tmp/gradebox-inginious-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw .syscall("mkdir(\(dir))", errno: EIO)
        }
        if ImageTools.which("pip3") == nil && ImageTools.which("pip") == nil {
            try await ImageStore.aptInstall("python3-pip", progress: progress)
        }
        progress?("pip download inginious==\(version) (its sdist, for the in-box API)")
        try await ImageTools.stream(ImageTools.which("pip3") != nil ? "pip3" : "pip",
                                    ["download", "--no-deps", "--no-binary", ":all:", "inginious==\(version)", "-d", dir],
                                    progress: progress)
        let archive = dir + "/inginious-\(version).tar.gz"
        guard FileManager.default.fileExists(atPath: archive) else {
            throw .toolFailed("pip download inginious==\(version)", status: 0, output: "no \(archive)")
        }
        _ = try await ImageTools.capture("tar", ["-xzf", archive, "-C", dir])
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        guard let top = entries.first(where: { $0.lowercased() == "inginious-\(version)" }) else {
            throw .toolFailed("tar -xzf \(archive)", status: 0, output: "no inginious-\(version) directory in it")
        }
        let base = "\(dir)/\(top)/base-containers/base"
        guard FileManager.default.fileExists(atPath: base + "/inginious_container_api/feedback.py") else {
            throw .toolFailed("inginious \(version) sdist", status: 0, output: "no base-containers/base/inginious_container_api in it")
        }
        return (dir, base)
    }

    /// What base-containers/base/Dockerfile does, in `rootfs`: the commands in
    /// /bin (INGInious itself root-only), the API importable as
    /// `inginious_container_api` and as `inginious`, the user `worker`, and the
    /// mount points of a grading box.
    static func install(_ base: String, inbox: String, into rootfs: String, progress: (@Sendable (String) -> Void)?) throws(SandboxError) {
        let fm = FileManager.default
        func run(_ what: String, _ body: () throws -> Void) throws(SandboxError) {
            do { try body() } catch { throw .toolFailed(what, status: 0, output: "\(error)") }
        }
        try run("install INGInious's commands") {
            for name in try fm.contentsOfDirectory(atPath: base + "/bin").sorted() {
                let target = "\(rootfs)/usr/bin/\(name)"
                try? fm.removeItem(atPath: target)
                try fm.copyItem(atPath: "\(base)/bin/\(name)", toPath: target)
                try fm.setAttributes([.posixPermissions: name == "INGInious" ? 0o700 : 0o755], ofItemAtPath: target)
            }
        }
        try run("install INGInious's python package") {
            for package in ["inginious_container_api", "inginious"] {
                let target = "\(rootfs)/usr/lib/python3/dist-packages/\(package)"
                try? fm.removeItem(atPath: target)
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
                for file in try fm.contentsOfDirectory(atPath: base + "/inginious_container_api") where file.hasSuffix(".py") {
                    try fm.copyItem(atPath: "\(base)/inginious_container_api/\(file)", toPath: "\(target)/\(file)")
                    try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(target)/\(file)")
                }
            }
        }
        try run("install gradebox's run_student") {
            // INGInious's talks ZeroMQ to its container's main process, which relays
            // to the Docker agent; gradebox's keeps the module's interface and asks
            // the grader over a Unix socket in /sockets, handing it the descriptors.
            // INGInious's stays beside it, used where there is no gradebox grader
            // (the same image under INGInious's Docker agent).
            for package in ["inginious_container_api", "inginious"] {
                let target = "\(rootfs)/usr/lib/python3/dist-packages/\(package)/run_student.py"
                let stock = "\(rootfs)/usr/lib/python3/dist-packages/\(package)/_inginious_run_student.py"
                try? fm.removeItem(atPath: stock)
                try fm.moveItem(atPath: target, toPath: stock)
                try runStudentModule.write(toFile: target, atomically: true, encoding: .utf8)
                try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target)
            }
        }
        try run("install gradebox's in-box commands (\(inbox))") {
            // The stock scripts stay, in /usr/lib/inginious/bin, for a run
            // script that wants them (and for the tests that compare the two).
            let stock = rootfs + "/usr/lib/inginious/bin"
            try fm.createDirectory(atPath: stock, withIntermediateDirectories: true)
            let program = rootfs + inboxPath
            try fm.createDirectory(atPath: String(program[..<program.lastIndex(of: "/")!]), withIntermediateDirectories: true)
            try? fm.removeItem(atPath: program)
            try fm.copyItem(atPath: inbox, toPath: program)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
            for name in nativeCommands {
                let target = "\(rootfs)/usr/bin/\(name)"
                if fm.fileExists(atPath: target) {
                    try? fm.removeItem(atPath: "\(stock)/\(name)")
                    try fm.moveItem(atPath: target, toPath: "\(stock)/\(name)")
                }
                try fm.createSymbolicLink(atPath: target, withDestinationPath: inboxPath)
            }
        }
        try run("add the user worker (4242)") {
            try append("worker:x:4242:4242:worker:/task:/bin/bash\n", to: rootfs + "/etc/passwd")
            try append("worker:x:4242:\n", to: rootfs + "/etc/group")
            try append("worker:*:19000:0:99999:7:::\n", to: rootfs + "/etc/shadow")
        }
        try run("make the grading box's mount points") {
            for dir in mountPoints {
                try fm.createDirectory(atPath: "\(rootfs)/\(dir)", withIntermediateDirectories: true)
            }
            try fm.setAttributes([.ownerAccountID: 4242, .groupOwnerAccountID: 4242], ofItemAtPath: rootfs + "/task")
        }
        progress?("INGInious \(version): its commands, its python package, the user worker and the mount points")
    }

    /// The commands gradebox-inbox carries out (the rest of INGInious's stay Python:
    /// feedback-msg-tpl and parsetemplate render templates, archive is deprecated).
    static let nativeCommands = ["feedback-result", "feedback-grade", "feedback-msg", "feedback-custom", "feedback-state",
                                 "feedback", "tag", "tag-set", "getinput", "run_student"]

    /// gradebox-inbox (a static C program built with gradebox): GRADEBOX_INBOX, or beside this executable.
    static func inboxProgram() throws(SandboxError) -> String {
        if let path = getenv("GRADEBOX_INBOX").map({ String(cString: $0) }), !path.isEmpty { return path }
        let path = Kernel.besideExecutable("gradebox-inbox")
        guard access(path, X_OK) == 0 else {
            throw .hostUnsupported("the in-box commands program \(path) is missing (build it: swift build --product gradebox-inbox, or set GRADEBOX_INBOX)")
        }
        return path
    }

    private static func append(_ line: String, to path: String) throws {
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard !existing.split(separator: "\n").contains(where: { $0.hasPrefix(line.prefix { $0 != ":" } + ":") }) else { return }
        try (existing + line).write(toFile: path, atomically: true, encoding: .utf8)
    }
}

extension InginiousEnvironment {
    /// The grader's run_student socket, in the grading box's /sockets.
    package static let runStudentSocketName = "gradebox.sock"
    /// Its path in a grading box.
    static let runStudentSocket = "/sockets/" + runStudentSocketName
    /// gradebox's in-box commands in an image that has them (`inginious-default`).
    package static let inboxPath = "/usr/lib/gradebox/gradebox-inbox"

    /// `inginious_container_api.run_student`, gradebox's: the same functions and
    /// return codes as INGInious's (the program's own, 252 memory, 253 time,
    /// 254 could not start, 251 root asked on a shared kernel), asking the
    /// grader for a student box with one JSON line and the three descriptors.
    static let runStudentModule = #"""
# run_student for gradebox: the interface of INGInious's inginious_container_api.run_student,
# served by the gradebox grader through /sockets/gradebox.sock (JSON and SCM_RIGHTS).
# Without that socket (the image under INGInious's own Docker agent), INGInious's module,
# kept as _inginious_run_student, serves instead.
import json
import os
import signal
import socket

_SOCKET = "/sockets/gradebox.sock"


def _gradebox_run_student(cmd, container=None, time_limit=0, hard_time_limit=0, memory_limit=0, share_network=False,
                working_dir=None, stdin=None, stdout=None, stderr=None, signal_handler_callback=None, ssh=False,
                start_student_as_root=False, teardown_script=""):
    """Runs `cmd` in a student box; returns its exit code, or 252 (memory), 253 (time), 254 (could not run)."""
    if start_student_as_root:
        return 251
    if working_dir is None:
        working_dir = os.getcwd()
    opened = []
    fds = []
    for fd in (stdin, stdout, stderr):
        if fd is None:
            fd = os.open(os.devnull, os.O_RDWR)
            opened.append(fd)
        fds.append(fd)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(_SOCKET)
            request = {"cmd": cmd, "environment": container, "time_limit": time_limit or 0,
                       "hard_time_limit": hard_time_limit or 0, "memory_limit": memory_limit or 0,
                       "share_network": bool(share_network), "working_dir": working_dir}
            socket.send_fds(s, [json.dumps(request).encode() + b"\n"], fds)
            if signal_handler_callback is not None:
                # The caller's signals, passed on to the student's program (one line each).
                signal_handler_callback(lambda signum: s.send(json.dumps({"signal": int(signum)}).encode() + b"\n"))
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return 254
                reply += chunk
            return int(json.loads(reply.decode())["retval"])
    except Exception:
        return 254
    finally:
        for fd in opened:
            os.close(fd)


def _gradebox_run_student_simple(cmd, cmd_input=None, container=None, time_limit=0, hard_time_limit=0, memory_limit=0,
                       share_network=False, working_dir=None, stdout_err_fuse=False, text="utf-8"):
    """run_student with an input string; returns (stdout, stderr, retval), or (stdout, retval) when fused."""
    stdin = None
    if cmd_input is not None:
        r, w = os.pipe()
        data = cmd_input.encode() if isinstance(cmd_input, str) else cmd_input
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.write(w, data)
            finally:
                os._exit(0)
        os.close(w)
        stdin = r
    out_r, out_w = os.pipe()
    err_r, err_w = (out_r, out_w) if stdout_err_fuse else os.pipe()
    import threading
    chunks = {out_r: [], err_r: []}

    def drain(fd):
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks[fd].append(b)

    readers = [threading.Thread(target=drain, args=(fd,)) for fd in set([out_r, err_r])]
    for t in readers:
        t.start()
    retval = run_student(cmd, container, time_limit, hard_time_limit, memory_limit, share_network, working_dir,
                         stdin, out_w, err_w)
    os.close(out_w)
    if not stdout_err_fuse:
        os.close(err_w)
    if stdin is not None:
        os.close(stdin)
    for t in readers:
        t.join()
    decode = (lambda b: b.decode(text)) if text is not False else (lambda b: b)
    out = decode(b"".join(chunks[out_r]))
    if stdout_err_fuse:
        return out, retval
    return out, decode(b"".join(chunks[err_r])), retval


def _gradebox_hack_signals(receive_signal):
    """Kept for the run_student command: signals go to the student box's program through its process group."""
    for name in [x for x in dir(signal) if x.startswith("SIG") and not x.startswith("SIG_")]:
        if name in ("SIGSTOP", "SIGKILL", "SIGCHLD"):
            continue
        try:
            signal.signal(getattr(signal, name), lambda signum, _: receive_signal(signum))
        except (OSError, RuntimeError, ValueError):
            pass


if os.path.exists(_SOCKET):
    run_student = _gradebox_run_student
    run_student_simple = _gradebox_run_student_simple
    _hack_signals = _gradebox_hack_signals
else:
    from ._inginious_run_student import run_student, run_student_simple, _hack_signals  # noqa: F401
"""#
}
