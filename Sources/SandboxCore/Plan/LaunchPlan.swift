/// The flat values the C core carries out for one box: every path, flag and
/// number decided, nothing left to look up. Built by `Planner`, carried out by `BoxLauncher` through the C core (`CCore`).
package struct LaunchPlan: Sendable, Equatable {
    package var cloneFlags: UInt64
    package var unshareCgroupNamespace: Bool
    package var loopbackUp: Bool
    package var uidMap: String?
    package var gidMap: String?
    /// The image root whose mount template (`MountTemplates`) the box's
    /// mount namespace is copied from; then `ops` name the box's own paths
    /// and there is no `newRoot`. nil: the box copies the caller's mounts.
    package var mountTemplate: String? = nil
    package var ops: [MountOp]
    package var newRoot: String?
    package var hostname: String?
    package var workdir: String
    package var rlimits: [ResourceLimit]
    package var ids: UserID?
    package var capabilitiesKept: UInt64
    package var seccomp: [SockFilter]
    package var argv: [String]
    package var environment: [String]
    /// Directories searched for argv[0] when it has no slash (the box's PATH).
    package var searchPath: [String]
    /// What the box's cgroup is written before the box joins it (`CgroupPlanner`);
    /// empty where the host has no cgroup gradebox can write.
    package var cgroupWrites: [CgroupWrite] = []
}

/// One entry of the mount table, in the order the kernel needs them.
package struct MountOp: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Int32, Sendable {
        /// `mkdir`: `flags` is the mode (0: 0755).
        case mount = 0, mkdir = 1, touch = 2, symlink = 3
        /// A character device, mode 0666: `flags` holds its number (major << 8 | minor, as for the old 16-bit dev_t).
        case mknod = 4
        /// A host mount tree (`source`) attached at `target` in a box copied from
        /// a mount template: opened by the launcher before the clone
        /// (`Syscalls.openTree`), recursively with `MountFlags.rec`, read-only,
        /// nosuid and nodev with `MountFlags.readOnly`.
        case attach = 5
    }
    package var kind: Kind
    package var source: String?
    package var target: String
    package var fstype: String?
    package var data: String?
    package var flags: UInt
    /// ENOENT on the target is tolerated: /proc files some kernels lack.
    package var optional: Bool
    /// Who asked for this mount point, when the image must have it: a
    /// failure to find it is then the caller's mistake (a bad request naming
    /// it), not the sandbox's (`Judge`). E.g. "--workdir /judge".
    package var purpose: String?

    package init(kind: Kind, source: String? = nil, target: String, fstype: String? = nil, data: String? = nil, flags: UInt = 0,
                 optional: Bool = false, purpose: String? = nil) {
        self.purpose = purpose
        self.kind = kind
        self.source = source
        self.target = target
        self.fstype = fstype
        self.data = data
        self.flags = flags
        self.optional = optional
    }

    /// The step's name in errors: `mount(bind /img -> /root)`, `mkdir(/root/dev/pts)`.
    package var description: String {
        switch kind {
        case .mkdir: return "mkdir(\(target))"
        case .touch: return "create(\(target))"
        case .symlink: return "symlink(\(target) -> \(source ?? ""))"
        case .mknod: return "mknod(\(target) c \(flags >> 8):\(flags & 0xff))"
        case .attach: return "mount(bind \(source ?? "") -> \(target))"
        case .mount:
            let ms = MountFlags.self
            if flags & ms.remount != 0 {
                return "mount(remount \(flags & ms.readOnly != 0 ? "ro" : "rw") \(target))"
            }
            if flags & ms.bind != 0 { return "mount(bind \(source ?? "") -> \(target))" }
            if flags & ms.propagationMask != 0 { return "mount(make-private \(target))" }
            return "mount(\(fstype ?? "?") \(target)\(data.map { " \($0)" } ?? ""))"
        }
    }
}

package struct ResourceLimit: Sendable, Equatable {
    package var resource: Int32
    package var soft: UInt64
    package var hard: UInt64
}

/// mount(2) flags, spelled out so the planner stays free of Glibc.
package enum MountFlags {
    package static let readOnly: UInt = 1
    package static let noSuid: UInt = 2
    package static let noDev: UInt = 4
    package static let noExec: UInt = 8
    package static let remount: UInt = 32
    package static let bind: UInt = 4096
    package static let rec: UInt = 16384
    package static let privateFlag: UInt = 1 << 18
    package static let propagationMask: UInt = (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20)
}

/// clone(2) namespace flags.
package enum CloneFlags {
    package static let newNS: UInt64 = 0x0002_0000
    package static let newCgroup: UInt64 = 0x0200_0000
    package static let newUTS: UInt64 = 0x0400_0000
    package static let newIPC: UInt64 = 0x0800_0000
    package static let newUser: UInt64 = 0x1000_0000
    package static let newPID: UInt64 = 0x2000_0000
    package static let newNet: UInt64 = 0x4000_0000
}

/// Linux capability numbers by name (linux/capability.h).
package enum Capabilities {
    package static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
        "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    package static func mask(_ requested: [String]) throws(SandboxError) -> UInt64 {
        var mask: UInt64 = 0
        for raw in requested {
            let name = raw.uppercased().hasPrefix("CAP_") ? raw.uppercased() : "CAP_" + raw.uppercased()
            guard let bit = names.firstIndex(of: name) else {
                throw .invalidRequest("unknown capability \(raw)")
            }
            mask |= 1 << UInt64(bit)
        }
        return mask
    }
}
