/// A system-call ABI a seccomp filter can be compiled for: its
/// `AUDIT_ARCH_*` value (what the kernel puts in `seccomp_data.arch`) and its
/// syscall numbers.
package enum SeccompArch: String, Sendable, CaseIterable, Codable {
    case x86_64
    case aarch64

    /// The ABI this binary runs on (the one its children's syscalls use).
    package static var native: SeccompArch {
        #if arch(x86_64)
        .x86_64
        #elseif arch(arm64)
        .aarch64
        #else
        #error("gradebox's seccomp compiler knows x86_64 and aarch64 only")
        #endif
    }

    /// `AUDIT_ARCH_X86_64` / `AUDIT_ARCH_AARCH64` from <linux/audit.h>.
    package var auditArch: UInt32 {
        switch self {
        case .x86_64: 0xC000_003E
        case .aarch64: 0xC000_00B7
        }
    }

    /// x86_64 kernels also accept x32 syscalls (`nr | __X32_SYSCALL_BIT`) with
    /// the same `AUDIT_ARCH`: a filter keyed on x86_64 numbers must refuse them
    /// or the x32 numbers would slip past every rule.
    package var x32SyscallBit: UInt32? {
        self == .x86_64 ? 0x4000_0000 : nil
    }

    /// The syscall number of `name` on this ABI, nil when the ABI has no such
    /// call (`iopl` on aarch64, `stime` on both).
    package func number(of name: String) -> UInt32? {
        switch self {
        case .x86_64: SeccompArch.x86_64Numbers[name]
        case .aarch64: SeccompArch.aarch64Numbers[name]
        }
    }

    // Taken from <asm/unistd_64.h> and <asm-generic/unistd.h> (Linux 6.1
    // headers, aarch64 uses the generic table). Only the calls a policy names
    // need to be here; a name missing from a table is skipped on that ABI.
    static let x86_64Numbers: [String: UInt32] = [
        "read": 0, "write": 1, "openat": 257, "ioctl": 16,
        "clone": 56, "fork": 57, "vfork": 58, "clone3": 435,
        "personality": 135, "uselib": 134, "_sysctl": 156,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "pidfd_getfd": 438, "process_madvise": 440,
        "kexec_load": 246, "kexec_file_load": 320, "bpf": 321,
        "keyctl": 250, "add_key": 248, "request_key": 249,
        "perf_event_open": 298,
        "init_module": 175, "finit_module": 313, "delete_module": 176,
        "create_module": 174, "get_kernel_syms": 177, "query_module": 178,
        "reboot": 169, "swapon": 167, "swapoff": 168,
        "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "acct": 163, "quotactl": 179, "quotactl_fd": 443, "lookup_dcookie": 212,
        "userfaultfd": 323, "unshare": 272, "setns": 308,
        "open_by_handle_at": 304, "name_to_handle_at": 303,
        "iopl": 172, "ioperm": 173, "syslog": 103, "vhangup": 153, "nfsservctl": 180,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    ]

    static let aarch64Numbers: [String: UInt32] = [
        "read": 63, "write": 64, "openat": 56, "ioctl": 29,
        "clone": 220, "clone3": 435,
        "personality": 92,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "pidfd_getfd": 438, "process_madvise": 440,
        "kexec_load": 104, "kexec_file_load": 294, "bpf": 280,
        "keyctl": 219, "add_key": 217, "request_key": 218,
        "perf_event_open": 241,
        "init_module": 105, "finit_module": 273, "delete_module": 106,
        "reboot": 142, "swapon": 224, "swapoff": 225,
        "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "acct": 89, "quotactl": 60, "quotactl_fd": 443, "lookup_dcookie": 18,
        "userfaultfd": 282, "unshare": 97, "setns": 268,
        "open_by_handle_at": 265, "name_to_handle_at": 264,
        "syslog": 116, "vhangup": 58, "nfsservctl": 42,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    ]
}
