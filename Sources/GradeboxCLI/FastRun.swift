import SandboxCore

/// `gradebox run` without ArgumentParser, for the argv a program or a grader
/// sends over and over.
///
/// Why by hand: ArgumentParser builds its model of every command by
/// reflection (Mirror, dynamic casts that scan every protocol conformance in
/// the binary) before it reads the first argument: about 5 ms of a 7 ms
/// `gradebox run` on this kind of host, where the box itself takes less.
/// This parser knows only `run`'s options, and gives up (returns nil) on
/// anything else: help, an unknown or incomplete option, a value that is
/// not one of the choices. ArgumentParser then parses the same argv and
/// gives the help text or the error, so there is one CLI, documented once.
/// A test holds the two parsers to the same result on every option.
enum FastRun {
    private enum Slot {
        case root, images, image, hostname, workdir, stdin, stdoutFile, stderrFile
        case network, userns, rootfs
        case env, envFile, keepEnv, mount, capAdd, user, workdirMode
        // A field name, not a key path: the first use of a key path in a process
        // instantiates its metadata by demangling (~0.05 ms of a `gradebox run`).
        case limit(LimitValues.Field)
    }

    private static func slot(_ name: String) -> Slot? {
        switch name {
        case "--root": .root
        case "--images": .images
        case "--image": .image
        case "--hostname": .hostname
        case "--workdir": .workdir
        case "--stdin": .stdin
        case "--stdout": .stdoutFile
        case "--stderr": .stderrFile
        case "--stdout-limit": .limit(.stdoutLimit)
        case "--stderr-limit": .limit(.stderrLimit)
        case "--on-output-limit": .limit(.onOutputLimit)
        case "--network": .network
        case "--userns": .userns
        case "--rootfs": .rootfs
        case "--env": .env
        case "--env-file": .envFile
        case "--keep-env": .keepEnv
        case "--workdir-mode": .workdirMode
        case "--mount": .mount
        case "--cap-add": .capAdd
        case "--user": .user
        case "--memory": .limit(.memory)
        case "--memory-swap": .limit(.memorySwap)
        case "--cpus": .limit(.cpus)
        case "--pids": .limit(.pids)
        case "--time": .limit(.time)
        case "--wall-time": .limit(.wallTime)
        case "--output": .limit(.output)
        case "--tmpfs-size": .limit(.tmpfsSize)
        case "--nofile": .limit(.nofile)
        case "--fsize": .limit(.fsize)
        case "--stack": .limit(.stack)
        default: nil
        }
    }

    /// The invocation `arguments` (what follows `gradebox run`) asks for, or
    /// nil when ArgumentParser must look at them.
    static func parse(_ arguments: ArraySlice<String>) -> RunInvocation? {
        var inv = RunInvocation(isolation: IsolationValues(image: ""))
        var image: String?
        var seen: [String] = []
        var i = arguments.startIndex
        while i < arguments.endIndex {
            let arg = arguments[i]
            i += 1
            if arg == "--" {
                inv.command = Array(arguments[i...])
                guard let image else { return nil }
                inv.isolation.image = image
                return inv
            }
            switch arg {
            case "--pool": inv.pool = true; continue
            case "--json": inv.json = true; continue
            case "--quiet", "-q": inv.quiet = true; continue
            case "--no-seccomp": inv.isolation.noSeccomp = true; continue
            default: break
            }
            // --name value or --name=value; nothing else is ours.
            var name = arg
            var value: String?
            if let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                value = String(arg[arg.index(after: eq)...])
            }
            guard let slot = slot(name) else { return nil }
            if value == nil {
                guard i < arguments.endIndex, !arguments[i].hasPrefix("-") else { return nil }
                value = arguments[i]
                i += 1
            }
            guard let value else { return nil }
            switch slot {
            case .env: inv.isolation.env.append(value)
            case .envFile: inv.isolation.envFiles.append(value)
            case .keepEnv: inv.isolation.keepEnv.append(value)
            case .mount: inv.isolation.mounts.append(value)
            case .capAdd: inv.isolation.capAdd.append(value)
            default:
                // A single-valued option given twice: ArgumentParser keeps the last; let it.
                guard !seen.contains(name) else { return nil }
                seen.append(name)
                switch slot {
                case .root: inv.root = value
                case .images: inv.images = value
                case .image: image = value
                case .hostname: inv.isolation.hostname = value
                case .workdir: inv.isolation.workdir = value
                case .stdin: inv.stdin = value
                case .stdoutFile: inv.stdoutFile = value
                case .stderrFile: inv.stderrFile = value
                case .user: inv.isolation.user = value
                case .network:
                    guard let v = NetworkMode(rawValue: value) else { return nil }
                    inv.isolation.network = v
                case .userns:
                    guard let v = UserNamespaceMode(rawValue: value) else { return nil }
                    inv.isolation.userns = v
                case .rootfs:
                    guard let v = RootfsMode(rawValue: value) else { return nil }
                    inv.isolation.rootfs = v
                case .limit(let field): inv.limits.set(field, value)
                case .workdirMode:
                    guard let v = WorkingDirectoryMode(rawValue: value) else { return nil }
                    inv.isolation.workdirMode = v
                case .env, .envFile, .keepEnv, .mount, .capAdd: break
                }
            }
        }
        return nil   // no `--`: no command, ArgumentParser says so
    }
}
