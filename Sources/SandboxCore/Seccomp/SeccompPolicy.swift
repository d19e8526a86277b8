#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a seccomp filter returns for a system call.
package enum SeccompAction: Sendable, Hashable, Codable {
    case allow
    /// Fail the call with this errno; the program sees an ordinary error.
    case errno(Int32)
    /// Kill the whole process, as for a call from a foreign ABI.
    case killProcess

    /// The `SECCOMP_RET_*` value a filter's `ret` instruction carries.
    package var returnValue: UInt32 {
        switch self {
        case .allow: 0x7FFF_0000  // SECCOMP_RET_ALLOW
        case .errno(let e): 0x0005_0000 | (UInt32(truncatingIfNeeded: e) & 0xFFFF)  // SECCOMP_RET_ERRNO
        case .killProcess: 0x8000_0000  // SECCOMP_RET_KILL_PROCESS
        }
    }
}

/// A test on one argument of a system call (`seccomp_data.args[index]`).
package enum SeccompArgumentTest: Sendable, Hashable, Codable {
    /// `(arg & mask) != 0`, on all 64 bits.
    case anyBitSet(UInt64)
    /// `arg == value`, on all 64 bits.
    case equals(UInt64)
    /// The low 32 bits equal `value`. For arguments the kernel reads as a
    /// 32-bit int (ioctl's cmd, personality's persona): it ignores the upper
    /// half, so comparing 64 bits would let a caller dodge the rule by setting
    /// high bits (how flatpak's TIOCSTI filter was bypassed, CVE-2019-10063).
    case lowWordEquals(UInt32)
    /// The low 32 bits are none of `values` (32-bit arguments, as above).
    case lowWordNotIn([UInt32])
}

package struct SeccompCondition: Sendable, Hashable, Codable {
    /// 0...5, as in `seccomp_data.args`.
    package var argument: Int
    package var test: SeccompArgumentTest
    package init(argument: Int, _ test: SeccompArgumentTest) {
        self.argument = argument
        self.test = test
    }
}

/// One rule: when `syscall` is called and every condition holds, return `action`.
package struct SeccompRule: Sendable, Hashable, Codable {
    package var syscall: String
    /// All must hold (AND); empty means the rule matches every call.
    package var conditions: [SeccompCondition]
    package var action: SeccompAction
    package init(_ syscall: String, _ action: SeccompAction, when conditions: [SeccompCondition] = []) {
        self.syscall = syscall
        self.action = action
        self.conditions = conditions
    }
}

/// A seccomp policy as data: rules checked in order per syscall (first match
/// wins), `defaultAction` for everything else. Turned into a BPF program by
/// `compile(for:)`, loaded by the launcher with seccomp(SECCOMP_SET_MODE_FILTER).
package struct SeccompPolicy: Sendable, Hashable, Codable {
    package var rules: [SeccompRule]
    package var defaultAction: SeccompAction
    /// What a call from another ABI (or x32 on x86_64) gets.
    package var foreignArchAction: SeccompAction

    package init(
        rules: [SeccompRule],
        defaultAction: SeccompAction = .allow,
        foreignArchAction: SeccompAction = .killProcess
    ) {
        self.rules = rules
        self.defaultAction = defaultAction
        self.foreignArchAction = foreignArchAction
    }

    /// Namespace flags of clone(2)'s first argument. CLONE_NEWTIME (0x80) is
    /// only honoured by clone3 and unshare; in clone() that bit lies in the
    /// exit-signal byte where no valid signal sets it, so refusing it costs nothing.
    package static let cloneNamespaceFlags: UInt64 =
        0x0002_0000  // CLONE_NEWNS
        | 0x0200_0000  // CLONE_NEWCGROUP
        | 0x0400_0000  // CLONE_NEWUTS
        | 0x0800_0000  // CLONE_NEWIPC
        | 0x1000_0000  // CLONE_NEWUSER
        | 0x2000_0000  // CLONE_NEWPID
        | 0x4000_0000  // CLONE_NEWNET
        | 0x0000_0080  // CLONE_NEWTIME

    /// Calls a grading box never needs and that reach kernel surface meant for
    /// the host's administrator, after Docker's default profile: mounts and the
    /// new mount API, namespaces, tracing other processes, kernel modules,
    /// keyrings, BPF, perf, clocks, swap, reboot, raw I/O ports, io_uring.
    package static let deniedSyscalls: [String] = [
        "mount", "umount2", "pivot_root", "chroot",
        "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "unshare", "setns",
        "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise",
        "kexec_load", "kexec_file_load", "reboot",
        "init_module", "finit_module", "delete_module",
        "create_module", "get_kernel_syms", "query_module", "uselib", "_sysctl", "nfsservctl",
        "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "syslog",
        "keyctl", "add_key", "request_key",
        "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
        "open_by_handle_at", "name_to_handle_at",
        "iopl", "ioperm", "vhangup",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
    ]

    /// gradebox's default: the deny list above fails with EPERM; clone with a
    /// namespace flag fails with EPERM while fork-like clones pass; clone3
    /// fails with ENOSYS, because its flags sit in memory a filter cannot read
    /// and libc then falls back to clone (Docker does the same); ioctl
    /// TIOCSTI/TIOCLINUX (typing into or pasting from a terminal the box does
    /// not own) and unusual personality() values fail with EPERM.
    package static var gradeboxDefault: SeccompPolicy {
        let eperm = SeccompAction.errno(EPERM)
        var rules = deniedSyscalls.map { SeccompRule($0, eperm) }
        rules.append(SeccompRule("clone", eperm, when: [SeccompCondition(argument: 0, .anyBitSet(cloneNamespaceFlags))]))
        rules.append(SeccompRule("clone3", .errno(ENOSYS)))
        rules.append(SeccompRule("ioctl", eperm, when: [SeccompCondition(argument: 1, .lowWordEquals(0x5412))]))  // TIOCSTI
        rules.append(SeccompRule("ioctl", eperm, when: [SeccompCondition(argument: 1, .lowWordEquals(0x541C))]))  // TIOCLINUX
        // The persona values Docker allows: PER_LINUX, PER_LINUX32, UNAME26
        // (alone and with PER_LINUX32), and 0xffffffff, which only queries.
        rules.append(
            SeccompRule(
                "personality", eperm,
                when: [SeccompCondition(argument: 0, .lowWordNotIn([0x0, 0x8, 0x20000, 0x20008, 0xFFFF_FFFF]))]))
        return SeccompPolicy(rules: rules)
    }
}
