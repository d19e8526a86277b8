import ArgumentParser
import SandboxCore

/// Limits, as `gradebox run` and `gradebox create` take them.
struct LimitOptions: ParsableArguments {
    @Option(help: "Memory limit (cgroup), e.g. 64M.") var memory: String?
    @Option(name: .customLong("memory-swap"), help: "Memory+swap limit; defaults to --memory (no swap).") var memorySwap: String?
    @Option(help: "CPU quota in CPUs, e.g. 0.5.") var cpus: String?
    @Option(help: "Maximum number of processes and threads.") var pids: String?
    @Option(help: "CPU time limit in seconds, over every process of the box; SOFT:HARD (e.g. 1:1.5) gives TO past SOFT and kills at HARD.") var time: String?
    @Option(name: .customLong("wall-time"), help: "Wall-clock limit in seconds.") var wallTime: String?
    @Option(help: "Bytes of stdout+stderr kept together; past that, --on-output-limit.") var output: String?
    @Option(name: .customLong("stdout-limit"), help: "Bytes of stdout kept; past that, --on-output-limit.") var stdoutLimit: String?
    @Option(name: .customLong("stderr-limit"), help: "Bytes of stderr kept; past that, --on-output-limit.") var stderrLimit: String?
    @Option(name: .customLong("on-output-limit"), help: "kill (OLE, the default) or truncate (drop the rest, the program goes on).") var onOutputLimit: String?
    @Option(name: .customLong("tmpfs-size"), help: "Size of the writable tmpfs, shared by /tmp, the working directory and the overlay upper layer.") var tmpfsSize: String?
    @Option(help: "Open files limit (RLIMIT_NOFILE).") var nofile: String?
    @Option(help: "Largest file the program may write (RLIMIT_FSIZE).") var fsize: String?
    @Option(help: "Stack size limit (RLIMIT_STACK).") var stack: String?

    var values: LimitValues {
        LimitValues(memory: memory, memorySwap: memorySwap, cpus: cpus, pids: pids, time: time, wallTime: wallTime,
                    output: output, stdoutLimit: stdoutLimit, stderrLimit: stderrLimit, onOutputLimit: onOutputLimit, tmpfsSize: tmpfsSize, nofile: nofile, fsize: fsize, stack: stack)
    }

    func limits() throws(SandboxError) -> Limits { try values.limits() }
}

/// Isolation settings; everything is isolated unless opted out.
struct IsolationOptions: ParsableArguments {
    @Option(help: "Image name (see `gradebox image ls`) or a rootfs directory.") var image: String
    @Option(help: "none: an empty network namespace with loopback up; host: the host's network.") var network: NetworkMode = .none
    @Option(help: "User namespace: auto (only when not root), always, never.") var userns: UserNamespaceMode = .auto
    @Option(help: "bind: the image read-only; overlay: the image under a tmpfs upper layer.") var rootfs: RootfsMode = .bind
    @Option(help: "Hostname inside the box.") var hostname: String = "gradebox"
    @Option(help: "Working directory inside the box.") var workdir: String = "/tmp"
    @Option(name: .customLong("workdir-mode"), help: "scratch: an empty writable directory mounted there (of the box's tmpfs); image: the image's own directory (read-only, or writable with --rootfs overlay).")
    var workdirMode: WorkingDirectoryMode = .scratch
    @Option(name: .customLong("env"), help: "Extra environment variable NAME=VALUE (repeatable).") var env: [String] = []
    @Option(name: .customLong("env-file"), help: "Environment variables from FILE: NAME=VALUE lines; blank lines and # comments skipped (repeatable).") var envFiles: [String] = []
    @Option(name: .customLong("keep-env"), help: "Pass this process's variable NAME through, when it is set (repeatable).") var keepEnv: [String] = []
    @Option(name: .customLong("mount"), help: "Bind mount SRC:DST[:rw] from the host (read-only by default; repeatable).") var mounts: [String] = []
    @Option(help: "uid:gid inside the box (root only).") var user: String?
    @Option(name: .customLong("cap-add"), help: "Keep a capability, e.g. NET_BIND_SERVICE (repeatable).") var capAdd: [String] = []
    @Flag(name: .customLong("no-seccomp"), help: "Do not load the seccomp filter.") var noSeccomp = false

    var values: IsolationValues {
        IsolationValues(image: image, network: network, userns: userns, rootfs: rootfs, hostname: hostname,
                        workdir: workdir, workdirMode: workdirMode, env: env, envFiles: envFiles, keepEnv: keepEnv,
                        mounts: mounts, user: user, capAdd: capAdd, noSeccomp: noSeccomp)
    }

    func spec(command: [String], limits: Limits) throws(SandboxError) -> SandboxSpec {
        try values.spec(command: command, limits: limits)
    }
}

extension NetworkMode: ExpressibleByArgument {}
extension UserNamespaceMode: ExpressibleByArgument {}
extension RootfsMode: ExpressibleByArgument {}
extension WorkingDirectoryMode: ExpressibleByArgument {}
