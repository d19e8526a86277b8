@testable import SandboxCore

/// `struct seccomp_data` as a filter sees it.
struct SeccompData {
    var nr: UInt32
    var arch: UInt32
    var instructionPointer: UInt64 = 0
    var args: [UInt64] = [0, 0, 0, 0, 0, 0]

    init(nr: UInt32, arch: UInt32, args: [UInt64] = []) {
        self.nr = nr
        self.arch = arch
        for (i, a) in args.enumerated() { self.args[i] = a }
    }

    /// The 32-bit word at `offset`, little-endian as on x86_64 and aarch64.
    func word(at offset: UInt32) -> UInt32? {
        switch offset {
        case 0: return nr
        case 4: return arch
        case 8: return UInt32(truncatingIfNeeded: instructionPointer)
        case 12: return UInt32(truncatingIfNeeded: instructionPointer >> 32)
        case 16..<64 where offset % 4 == 0:
            let arg = args[Int(offset - 16) / 8]
            return offset % 8 == 0 ? UInt32(truncatingIfNeeded: arg) : UInt32(truncatingIfNeeded: arg >> 32)
        default: return nil
        }
    }
}

enum BPFFault: Error, Equatable {
    case jumpPastEnd(at: Int)
    case fellOffEnd
    case badLoad(at: Int, offset: UInt32)
    case unknownOpcode(at: Int, UInt16)
}

/// A classic-BPF interpreter for the subset a seccomp filter uses, written
/// independently of the compiler so a test can run a compiled program the
/// way the kernel would.
func runBPF(_ program: [SockFilter], on data: SeccompData) throws(BPFFault) -> UInt32 {
    try traceBPF(program, on: data).result
}

/// `runBPF`, also counting the instructions executed on the way.
func traceBPF(_ program: [SockFilter], on data: SeccompData) throws(BPFFault) -> (result: UInt32, executed: Int) {
    var a: UInt32 = 0
    var pc = 0
    var executed = 0
    while pc < program.count {
        let insn = program[pc]
        executed += 1
        func target(_ offset: Int) throws(BPFFault) -> Int {
            let next = pc + 1 + offset
            guard next < program.count else { throw .jumpPastEnd(at: pc) }
            return next
        }
        switch insn.code {
        case 0x20:  // ld [k]
            guard let w = data.word(at: insn.k) else { throw .badLoad(at: pc, offset: insn.k) }
            a = w
            pc += 1
        case 0x54:  // and #k
            a &= insn.k
            pc += 1
        case 0x05:  // ja
            pc = try target(Int(insn.k))
        case 0x15, 0x25, 0x35, 0x45:
            let taken: Bool
            switch insn.code {
            case 0x15: taken = a == insn.k
            case 0x25: taken = a > insn.k
            case 0x35: taken = a >= insn.k
            default: taken = a & insn.k != 0
            }
            pc = try target(Int(taken ? insn.jt : insn.jf))
        case 0x06:
            return (insn.k, executed)
        default:
            throw .unknownOpcode(at: pc, insn.code)
        }
    }
    throw .fellOffEnd
}
