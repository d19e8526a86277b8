import ArgumentParser
import SandboxCore

/// Limits, as `gradebox run` and `gradebox create` take them.
struct LimitOptions: ParsableArguments {
    @Option(help: "Memory limit (cgroup), e.g. 64M.") var memory: String?
    @Option(name: .customLong("memory-swap"), help: "Memory+swap limit; defaults to --memory (no swap).") var memorySwap: String?
    @Option(help: "CPU quota in CPUs, e.g. 0.5.") var cpus: String?
    @Option(help: "Maximum number of processes and threads.") var pids: String?
    @Option(help: "CPU time limit in seconds, over every process of the box.") var time: String?
    @Option(name: .customLong("wall-time"), help: "Wall-clock limit in seconds.") var wallTime: String?
    @Option(help: "Bytes of stdout+stderr kept; beyond that the box is killed (OLE).") var output: String?
    @Option(name: .customLong("tmpfs-size"), help: "Size of the writable tmpfs (/tmp, working dir, overlay upper).") var tmpfsSize: String?
    @Option(help: "Open files limit (RLIMIT_NOFILE).") var nofile: String?
    @Option(help: "Largest file the program may write (RLIMIT_FSIZE).") var fsize: String?
    @Option(help: "Stack size limit (RLIMIT_STACK).") var stack: String?

    func limits() throws(SandboxError) -> Limits {
        var l = Limits()
        if let memory { l.memoryBytes = try LimitParsing.bytes(memory, option: "--memory") }
        if let memorySwap { l.memorySwapBytes = try LimitParsing.bytes(memorySwap, option: "--memory-swap") }
        if let cpus { l.cpus = try LimitParsing.cpus(cpus, option: "--cpus") }
        if let pids { l.pids = try LimitParsing.count(pids, option: "--pids") }
        if let time { l.cpuTimeSeconds = try LimitParsing.seconds(time, option: "--time") }
        if let wallTime { l.wallTimeSeconds = try LimitParsing.seconds(wallTime, option: "--wall-time") }
        if let output { l.outputBytes = Int(try LimitParsing.bytes(output, option: "--output")) }
        if let tmpfsSize { l.tmpfsBytes = try LimitParsing.bytes(tmpfsSize, option: "--tmpfs-size") }
        if let nofile { l.openFiles = UInt64(try LimitParsing.count(nofile, option: "--nofile")) }
        if let fsize { l.fileSizeBytes = try LimitParsing.bytes(fsize, option: "--fsize") }
        if let stack { l.stackBytes = try LimitParsing.bytes(stack, option: "--stack") }
        return l
    }
}

/// Isolation settings; everything is isolated unless opted out.
struct IsolationOptions: ParsableArguments {
    @Option(help: "Image name (see `gradebox image ls`) or a rootfs directory.") var image: String
    @Option(help: "none: an empty network namespace with loopback up; host: the host's network.") var network: NetworkMode = .none
    @Option(help: "User namespace: auto (only when not root), always, never.") var userns: UserNamespaceMode = .auto
    @Option(help: "bind: the image read-only; overlay: the image under a tmpfs upper layer.") var rootfs: RootfsMode = .bind
    @Option(help: "Hostname inside the box.") var hostname: String = "gradebox"
    @Option(help: "Working directory inside the box (a writable tmpfs).") var workdir: String = "/tmp"
    @Option(name: .customLong("env"), help: "Extra environment variable NAME=VALUE (repeatable).") var env: [String] = []
    @Option(name: .customLong("mount"), help: "Bind mount SRC:DST[:rw] from the host (read-only by default; repeatable).") var mounts: [String] = []
    @Option(help: "uid:gid inside the box (root only).") var user: String?
    @Option(name: .customLong("cap-add"), help: "Keep a capability, e.g. NET_BIND_SERVICE (repeatable).") var capAdd: [String] = []
    @Flag(name: .customLong("no-seccomp"), help: "Do not load the seccomp filter.") var noSeccomp = false

    func spec(command: [String], limits: Limits) throws(SandboxError) -> SandboxSpec {
        var environment = SandboxSpec.defaultEnvironment
        for e in env {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { throw .invalidRequest("--env: expected NAME=VALUE, got '\(e)'") }
            let name = e[..<eq]
            environment.removeAll { $0.hasPrefix(name + "=") }
            environment.append(e)
        }
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
            image: image, command: command, environment: environment, workingDirectory: workdir,
            hostname: hostname, network: network, userNamespace: userns, rootfs: rootfs, limits: limits,
            mounts: binds, user: ids, capabilities: capAdd, seccomp: !noSeccomp)
    }
}

extension NetworkMode: ExpressibleByArgument {}
extension UserNamespaceMode: ExpressibleByArgument {}
extension RootfsMode: ExpressibleByArgument {}
