import SandboxCore
#if canImport(Glibc)
import Glibc
#endif

// The options of `run` and `create` as plain values. Two parsers fill them:
// ArgumentParser (every command, help and errors) and FastRun (the common
// `gradebox run` argv, parsed without ArgumentParser's start-up cost). Both
// turn them into a spec here, so a flag cannot mean two things.

/// Limits as given on the command line, still unparsed.
struct LimitValues: Equatable, Sendable {
    var memory: String?
    var memorySwap: String?
    var cpus: String?
    var pids: String?
    var time: String?
    var wallTime: String?
    var output: String?
    var stdoutLimit: String?
    var stderrLimit: String?
    var onOutputLimit: String?
    var tmpfsSize: String?
    var nofile: String?
    var fsize: String?
    var stack: String?

    enum Field { case memory, memorySwap, cpus, pids, time, wallTime, output, stdoutLimit, stderrLimit, onOutputLimit, tmpfsSize, nofile, fsize, stack }

    mutating func set(_ field: Field, _ value: String) {
        switch field {
        case .memory: memory = value
        case .memorySwap: memorySwap = value
        case .cpus: cpus = value
        case .pids: pids = value
        case .time: time = value
        case .wallTime: wallTime = value
        case .output: output = value
        case .stdoutLimit: stdoutLimit = value
        case .stderrLimit: stderrLimit = value
        case .onOutputLimit: onOutputLimit = value
        case .tmpfsSize: tmpfsSize = value
        case .nofile: nofile = value
        case .fsize: fsize = value
        case .stack: stack = value
        }
    }

    func limits() throws(SandboxError) -> Limits {
        var l = Limits()
        if let memory { l.memoryBytes = try LimitParsing.bytes(memory, option: "--memory") }
        if let memorySwap { l.memorySwapBytes = try LimitParsing.bytes(memorySwap, option: "--memory-swap") }
        if let cpus { l.cpus = try LimitParsing.cpus(cpus, option: "--cpus") }
        if let pids { l.pids = try LimitParsing.count(pids, option: "--pids") }
        if let time { (l.cpuTimeSeconds, l.cpuTimeKillSeconds) = try LimitParsing.cpuTime(time, option: "--time") }
        if let wallTime { l.wallTimeSeconds = try LimitParsing.seconds(wallTime, option: "--wall-time") }
        try outputLimits(into: &l)
        if let tmpfsSize { l.tmpfsBytes = try LimitParsing.bytes(tmpfsSize, option: "--tmpfs-size") }
        if let nofile { l.openFiles = UInt64(try LimitParsing.count(nofile, option: "--nofile")) }
        if let fsize { l.fileSizeBytes = try LimitParsing.bytes(fsize, option: "--fsize") }
        if let stack { l.stackBytes = try LimitParsing.bytes(stack, option: "--stack") }
        return l
    }

    /// --output, --stdout-limit, --stderr-limit, --on-output-limit: `run`'s and `exec`'s alike.
    func outputLimits(into l: inout Limits) throws(SandboxError) {
        if let output { l.outputBytes = Int(try LimitParsing.bytes(output, option: "--output")) }
        if let stdoutLimit { l.stdoutBytes = Int(try LimitParsing.bytes(stdoutLimit, option: "--stdout-limit")) }
        if let stderrLimit { l.stderrBytes = Int(try LimitParsing.bytes(stderrLimit, option: "--stderr-limit")) }
        if let onOutputLimit {
            guard let action = OutputLimitAction(rawValue: onOutputLimit) else {
                throw .invalidRequest("--on-output-limit: expected truncate or kill, got '\(onOutputLimit)'")
            }
            l.onOutputLimit = action
        }
    }
}

/// Isolation settings as given on the command line; everything is isolated unless opted out.
struct IsolationValues: Equatable, Sendable {
    var image: String
    var network: NetworkMode = .none
    var userns: UserNamespaceMode = .auto
    var rootfs: RootfsMode = .bind
    var hostname: String = "gradebox"
    var workdir: String = "/tmp"
    var workdirMode: WorkingDirectoryMode = .scratch
    var env: [String] = []
    var envFiles: [String] = []
    var keepEnv: [String] = []
    var mounts: [String] = []
    var user: String?
    var capAdd: [String] = []
    var noSeccomp = false

    func spec(command: [String], limits: Limits) throws(SandboxError) -> SandboxSpec {
        // Only what is given reaches the box, on top of PATH, HOME and LANG:
        // --env-file first, then --keep-env, then --env, a later one winning.
        var environment = SandboxSpec.defaultEnvironment
        func set(_ e: String, _ option: String) throws(SandboxError) {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { throw .invalidRequest("\(option): expected NAME=VALUE, got '\(e)'") }
            let name = e[..<eq]
            environment.removeAll { $0.hasPrefix(name + "=") }
            environment.append(e)
        }
        for file in envFiles {
            for line in try EnvFile.lines(file) { try set(line, "--env-file \(file)") }
        }
        for name in keepEnv {
            guard !name.isEmpty, !name.contains("=") else { throw .invalidRequest("--keep-env: expected a variable's NAME, got '\(name)'") }
            if let value = getenv(name) { try set(name + "=" + String(cString: value), "--keep-env") }
        }
        for e in env { try set(e, "--env") }
        var binds: [BindMount] = []
        for m in mounts {
            let parts = m.split(separator: ":").map(String.init)
            guard parts.count == 2 || (parts.count == 3 && parts[2] == "rw") else {
                throw .invalidRequest("--mount: expected SRC:DST or SRC:DST:rw, got '\(m)'")
            }
            binds.append(BindMount(source: parts[0], target: parts[1], writable: parts.count == 3))
        }
        var ids = UserID(uid: 0, gid: 0)
        if let user {
            let parts = user.split(separator: ":")
            guard parts.count == 2, let u = UInt32(parts[0]), let g = UInt32(parts[1]) else {
                throw .invalidRequest("--user: expected UID:GID, got '\(user)'")
            }
            ids = UserID(uid: u, gid: g)
        }
        return SandboxSpec(
            image: image, command: command, environment: environment, workingDirectory: workdir, workingDirectoryMode: workdirMode == .image ? .image : nil,
            hostname: hostname, network: network, userNamespace: userns, rootfs: rootfs, limits: limits,
            mounts: binds, user: ids, capabilities: capAdd, seccomp: !noSeccomp)
    }
}

/// Everything `gradebox run` was asked, whichever parser read it.
struct RunInvocation: Equatable, Sendable {
    var root: String = Sandbox.defaultStateDirectory
    var images: String = ImageStore.defaultDirectory
    var isolation: IsolationValues
    var limits = LimitValues()
    var pool = false
    var json = false
    var quiet = false
    /// `--stdin`: FILE, `-` or `none`; nil: this process's stdin when it is not a terminal.
    var stdin: String?
    /// `--stdout FILE`, `--stderr FILE`: the program's output there, not on this process's.
    var stdoutFile: String?
    var stderrFile: String?
    var command: [String] = []

    /// This process runs one box and ends: a box made ahead for a next run would die with it.
    var sandbox: Sandbox {
        var sandbox = Sandbox(stateDirectory: root, images: ImageStore(directory: images))
        sandbox.makesWarmBoxes = false
        return sandbox
    }

    /// Runs the box and prints the result; returns the process's exit code.
    func execute() throws(SandboxError) -> Int32 {
        let spec = try isolation.spec(command: command, limits: try limits.limits())
        let input = try StdinOption.input(stdin)
        let (out, err) = try OutputFiles.targets(stdout: stdoutFile, stderr: stderrFile)
        let result = try sandbox.runBlocking(spec, pool: pool, stdin: input, stdout: out, stderr: err)
        report(result, json: json, quiet: quiet)
        return result.processExitCode
    }
}

/// `--stdin` of `run` and `exec`.
enum StdinOption {
    static let help = "The program's standard input: a FILE, `-` (this process's stdin) or `none` (/dev/null). Default: this process's stdin unless it is a terminal."

    /// What `value` names; a file is opened here and stays open until the process ends.
    static func input(_ value: String?) throws(SandboxError) -> StandardInput {
        switch value {
        case nil:
            // A terminal would have the program wait for someone typing; a closed stdin gives nothing.
            return isatty(0) == 1 || fcntl(0, F_GETFD) < 0 ? .none : .descriptor(0)
        case "none"?: return .none
        case "-"?: return .descriptor(0)
        case let path?:
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .invalidRequest("--stdin: cannot open \(path): \(errnoName(errno))") }
            return .descriptor(fd)
        }
    }
}

/// `--stdout FILE` and `--stderr FILE` of `run` and `exec`: made or emptied,
/// written as the program writes (within its limits). One file named twice is opened once.
enum OutputFiles {
    static func targets(stdout: String?, stderr: String?) throws(SandboxError) -> (OutputTarget, OutputTarget) {
        let out = try stdout.map { path throws(SandboxError) in try open(path, "--stdout") }
        let err = try stderr.map { path throws(SandboxError) in path == stdout ? out! : try open(path, "--stderr") }
        return (out.map { .descriptor($0) } ?? .capture, err.map { .descriptor($0) } ?? .capture)
    }

    private static func open(_ path: String, _ option: String) throws(SandboxError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .invalidRequest("\(option): cannot write \(path): \(errnoName(errno))") }
        return fd
    }
}

/// `--env-file FILE`: NAME=VALUE a line, as Docker's --env-file reads it
/// (no quotes removed, no variables expanded); blank lines and `#` comments skipped.
enum EnvFile {
    static func lines(_ path: String) throws(SandboxError) -> [String] {
        guard let text = Kernel.readText(path) else {
            throw .invalidRequest("--env-file: cannot read \(path)")
        }
        // "\r\n" is one Character: a file written on Windows splits too.
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).compactMap { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            return trimmed.isEmpty || trimmed.hasPrefix("#") ? nil : String(trimmed)
        }
    }
}
