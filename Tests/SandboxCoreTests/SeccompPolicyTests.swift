import Testing

@testable import SandboxCore

#if canImport(Glibc)
import Glibc
#endif

private let allow = SeccompAction.allow.returnValue
private let eperm = SeccompAction.errno(EPERM).returnValue
private let enosys = SeccompAction.errno(ENOSYS).returnValue
private let kill = SeccompAction.killProcess.returnValue

private let cloneNewUser: UInt64 = 0x1000_0000
private let sigchld: UInt64 = 17
private let TIOCSTI: UInt64 = 0x5412
private let TCGETS: UInt64 = 0x5401

private func run(_ arch: SeccompArch, _ name: String, _ args: [UInt64] = []) throws -> UInt32 {
    let program = try SeccompPolicy.gradeboxDefault.compile(for: arch)
    let nr = try #require(arch.number(of: name), "\(name) has no number on \(arch)")
    return try runBPF(program, on: SeccompData(nr: nr, arch: arch.auditArch, args: args))
}

@Suite("Seccomp default policy, compiled and interpreted")
struct SeccompDefaultPolicyTests {
    @Test(arguments: SeccompArch.allCases)
    func deniedCallsGetEPERM(arch: SeccompArch) throws {
        #expect(try run(arch, "mount") == eperm)
        #expect(try run(arch, "ptrace") == eperm)
        #expect(try run(arch, "unshare") == eperm)
        #expect(try run(arch, "bpf") == eperm)
    }

    @Test(arguments: SeccompArch.allCases)
    func everydayCallsAreAllowed(arch: SeccompArch) throws {
        #expect(try run(arch, "read") == allow)
        #expect(try run(arch, "write") == allow)
        #expect(try run(arch, "openat") == allow)
    }

    @Test(arguments: SeccompArch.allCases)
    func cloneWithoutNamespacesIsAllowed(arch: SeccompArch) throws {
        #expect(try run(arch, "clone", [sigchld]) == allow)
        // What pthread_create passes to clone.
        #expect(try run(arch, "clone", [0x3D0F00]) == allow)
    }

    @Test(arguments: SeccompArch.allCases)
    func cloneWithANamespaceFlagIsRefused(arch: SeccompArch) throws {
        #expect(try run(arch, "clone", [cloneNewUser | sigchld]) == eperm)
        #expect(try run(arch, "clone", [0x0002_0000]) == eperm)  // CLONE_NEWNS
        #expect(try run(arch, "clone", [0x4000_0000]) == eperm)  // CLONE_NEWNET
    }

    @Test(arguments: SeccompArch.allCases)
    func clone3GetsENOSYSSoLibcFallsBack(arch: SeccompArch) throws {
        #expect(try run(arch, "clone3") == enosys)
    }

    @Test(arguments: SeccompArch.allCases)
    func foreignArchIsKilled(arch: SeccompArch) throws {
        let program = try SeccompPolicy.gradeboxDefault.compile(for: arch)
        let readNr = try #require(arch.number(of: "read"))
        let i386: UInt32 = 0x4000_0003  // AUDIT_ARCH_I386
        #expect(try runBPF(program, on: SeccompData(nr: readNr, arch: i386)) == kill)
        let other = arch == .x86_64 ? SeccompArch.aarch64 : .x86_64
        #expect(try runBPF(program, on: SeccompData(nr: readNr, arch: other.auditArch)) == kill)
    }

    @Test func x32CallsAreRefusedOnX86_64() throws {
        let program = try SeccompPolicy.gradeboxDefault.compile(for: .x86_64)
        // x32 read and x32 mount: both carry __X32_SYSCALL_BIT under AUDIT_ARCH_X86_64.
        #expect(try runBPF(program, on: SeccompData(nr: 0x4000_0000 | 0, arch: SeccompArch.x86_64.auditArch)) == kill)
        #expect(try runBPF(program, on: SeccompData(nr: 0x4000_0000 | 165, arch: SeccompArch.x86_64.auditArch)) == kill)
        // nr -1 (a tracer skipping a call) is not x32.
        #expect(try runBPF(program, on: SeccompData(nr: 0xFFFF_FFFF, arch: SeccompArch.x86_64.auditArch)) == allow)
    }

    @Test(arguments: SeccompArch.allCases)
    func ioctlTIOCSTIIsRefusedOthersPass(arch: SeccompArch) throws {
        #expect(try run(arch, "ioctl", [0, TIOCSTI]) == eperm)
        // The kernel reads cmd as 32 bits: high garbage must not dodge the rule.
        #expect(try run(arch, "ioctl", [0, 0xFFFF_FFFF_0000_0000 | TIOCSTI]) == eperm)
        #expect(try run(arch, "ioctl", [0, TCGETS]) == allow)
    }

    @Test(arguments: SeccompArch.allCases)
    func personalityOnlyWithDockersValues(arch: SeccompArch) throws {
        #expect(try run(arch, "personality", [0]) == allow)
        #expect(try run(arch, "personality", [0xFFFF_FFFF]) == allow)
        #expect(try run(arch, "personality", [0x0040_0000]) == eperm)  // READ_IMPLIES_EXEC
    }

    @Test(arguments: SeccompArch.allCases)
    func everyNamedCallResolvesOrIsSkipped(arch: SeccompArch) throws {
        let program = try SeccompPolicy.gradeboxDefault.compile(for: arch)
        for name in SeccompPolicy.deniedSyscalls {
            guard let nr = arch.number(of: name) else { continue }
            #expect(try runBPF(program, on: SeccompData(nr: nr, arch: arch.auditArch)) == eperm, "\(name)")
        }
        #expect(arch.number(of: "stime") == nil)
    }

    /// Every number of the ABI, not only the named ones: the dispatch tree
    /// gives each its rule's action, or the default, and reaches it in a few
    /// steps (the kernel walks the filter for every number when it loads it).
    @Test(arguments: SeccompArch.allCases)
    func everyNumberGetsItsRuleByAShortWalk(arch: SeccompArch) throws {
        let policy = SeccompPolicy.gradeboxDefault
        let program = try policy.compile(for: arch)
        var rulesByNumber: [UInt32: [SeccompRule]] = [:]
        for rule in policy.rules {
            if let nr = arch.number(of: rule.syscall) { rulesByNumber[nr, default: []].append(rule) }
        }
        #expect(rulesByNumber.count > 40)
        var longest = 0
        for nr in UInt32(0)..<1024 {
            let rules = rulesByNumber[nr] ?? []
            guard rules.first?.conditions.isEmpty ?? true else { continue }  // argument rules: tested above
            let (result, executed) = try traceBPF(program, on: SeccompData(nr: nr, arch: arch.auditArch))
            #expect(result == (rules.first?.action ?? policy.defaultAction).returnValue, "nr \(nr)")
            longest = max(longest, executed)
        }
        // 4 of ABI checks, log2(rules / 4) levels of `jge`, at most 4 `jeq`, the `ret`.
        #expect(longest <= 14, "the longest walk is \(longest) instructions")
    }

    @Test(arguments: SeccompArch.allCases)
    func programIsWellFormed(arch: SeccompArch) throws {
        let program = try SeccompPolicy.gradeboxDefault.compile(for: arch)
        #expect(program.count < 4096)
        try expectWellFormed(program)
        #expect(program.last?.code == BPFOpcode.returnConstant)
    }
}

/// Every jump lands inside the program and every instruction is one the kernel's seccomp checker accepts.
private func expectWellFormed(_ program: [SockFilter]) throws {
    let known: Set<UInt16> = [0x20, 0x54, 0x05, 0x15, 0x25, 0x35, 0x45, 0x06]
    for (pc, insn) in program.enumerated() {
        #expect(known.contains(insn.code), "opcode \(insn.code) at \(pc)")
        switch insn.code {
        case 0x05:
            #expect(pc + 1 + Int(insn.k) < program.count, "ja past the end at \(pc)")
        case 0x15, 0x25, 0x35, 0x45:
            #expect(pc + 1 + Int(insn.jt) < program.count, "jt past the end at \(pc)")
            #expect(pc + 1 + Int(insn.jf) < program.count, "jf past the end at \(pc)")
        default:
            break
        }
    }
}

@Suite("Seccomp compiler on long policies")
struct SeccompLongPolicyTests {
    /// 400 argument rules on ioctl put the shared `ret` instructions about
    /// 800 instructions away from the first comparisons: far beyond an 8-bit jump.
    @Test func longPolicyNeedsTrampolinesAndStillEvaluatesRight() throws {
        var rules = SeccompPolicy.gradeboxDefault.rules
        // 400 ioctl commands refused, each its own rule: the ioctl block alone is 800 instructions.
        let refused = (0..<400).map { UInt32(0x8000 + $0) }
        for cmd in refused {
            rules.append(SeccompRule("ioctl", .errno(EACCES), when: [SeccompCondition(argument: 1, .lowWordEquals(cmd))]))
        }
        let policy = SeccompPolicy(rules: rules)
        for arch in SeccompArch.allCases {
            let program = try policy.compile(for: arch)
            #expect(program.count > 800)
            #expect(program.count < 4096)
            try expectWellFormed(program)
            let ioctl = try #require(arch.number(of: "ioctl"))
            let mount = try #require(arch.number(of: "mount"))
            let data = { (nr: UInt32, args: [UInt64]) in SeccompData(nr: nr, arch: arch.auditArch, args: args) }
            #expect(try runBPF(program, on: data(ioctl, [0, 0x8000])) == SeccompAction.errno(EACCES).returnValue)
            #expect(try runBPF(program, on: data(ioctl, [0, 0x8000 + 399])) == SeccompAction.errno(EACCES).returnValue)
            #expect(try runBPF(program, on: data(ioctl, [0, TIOCSTI])) == eperm)
            #expect(try runBPF(program, on: data(ioctl, [0, TCGETS])) == allow)
            #expect(try runBPF(program, on: data(mount, [])) == eperm)
            let read = try #require(arch.number(of: "read"))
            #expect(try runBPF(program, on: data(read, [])) == allow)
        }
    }

    @Test func tooLongPolicyIsRefused() throws {
        let rules = (0..<2100).map { SeccompRule("ioctl", .errno(EACCES), when: [SeccompCondition(argument: 1, .lowWordEquals(UInt32($0)))]) }
        #expect(throws: SandboxError.self) { try SeccompPolicy(rules: rules).compile(for: .x86_64) }
    }

    @Test func badArgumentIndexIsRefused() throws {
        let policy = SeccompPolicy(rules: [SeccompRule("clone", .errno(EPERM), when: [SeccompCondition(argument: 6, .equals(1))])])
        #expect(throws: SandboxError.self) { try policy.compile(for: .x86_64) }
    }

    @Test func sixtyFourBitConditions() throws {
        let policy = SeccompPolicy(rules: [
            SeccompRule("write", .errno(EBADF), when: [SeccompCondition(argument: 0, .equals(0x1_0000_0002))]),
            SeccompRule("read", .errno(EIO), when: [SeccompCondition(argument: 2, .anyBitSet(0x8000_0000_0000_0000))]),
        ])
        let program = try policy.compile(for: .x86_64)
        let x = SeccompArch.x86_64.auditArch
        #expect(try runBPF(program, on: SeccompData(nr: 1, arch: x, args: [0x1_0000_0002])) == SeccompAction.errno(EBADF).returnValue)
        #expect(try runBPF(program, on: SeccompData(nr: 1, arch: x, args: [2])) == allow)
        #expect(try runBPF(program, on: SeccompData(nr: 0, arch: x, args: [0, 0, 1 << 63])) == SeccompAction.errno(EIO).returnValue)
        #expect(try runBPF(program, on: SeccompData(nr: 0, arch: x, args: [0, 0, 1 << 31])) == allow)
    }
}
