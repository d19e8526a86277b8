#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The default filter, compiled once per gradebox binary and kept in the
/// state directory. Compiling it in Swift took 0.35 ms of every `gradebox run`
/// process here (most of it the runtime's first look-ups of the generic types
/// the compiler uses), a tenth of the whole run. The policy is part of the
/// binary, so the binary's identity (device, inode, size, modification time of
/// /proc/self/exe) keys the cached program: a rebuilt or replaced gradebox
/// compiles afresh.
///
/// The file is `seccomp-<arch>.bpf` (a `StateFile`): one key line, then the
/// instructions as `struct sock_filter`s. Anything amiss (missing, untrusted,
/// another key, a torn length) means compile and write it again.
enum SeccompCache {
    static func program(in directory: String, arch: SeccompArch,
                        compile: () throws(SandboxError) -> [SockFilter]) throws(SandboxError) -> [SockFilter] {
        guard let key = binaryKey(arch) else { return try compile() }
        let path = "\(directory)/seccomp-\(arch.rawValue).bpf"
        if let cached = read(path, key: key) { return cached }
        let program = try compile()
        write(program, key: key, to: path)
        return program
    }

    /// One line naming the format, the ABI and this binary. Built on bytes:
    /// string interpolation's first use in a process cost ~0.03 ms here.
    static func binaryKey(_ arch: SeccompArch) -> [UInt8]? {
        guard let st = Kernel.live.status("/proc/self/exe") else { return nil }
        var line: [UInt8] = []
        line.reserveCapacity(96)
        func append(_ text: StaticString) {
            text.withUTF8Buffer { line.append(contentsOf: $0) }
        }
        func append(_ n: UInt64) {
            var digits: [UInt8] = []
            var v = n
            repeat { digits.append(UInt8(truncatingIfNeeded: v % 10) + 0x30); v /= 10 } while v > 0
            line.append(contentsOf: digits.reversed())
        }
        append("gradebox-seccomp 1 ")
        line.append(contentsOf: arch.rawValue.utf8)
        for n in [st.device, st.inode, UInt64(st.size), UInt64(st.modifiedSeconds)] {
            append(" ")
            append(n)
        }
        append(".")
        append(UInt64(st.modifiedNanoseconds))
        append("\n")
        return line
    }

    static func read(_ path: String, key: [UInt8]) -> [SockFilter]? {
        guard let bytes = StateFile.readTrusted(path), bytes.count > key.count,
              bytes[0..<key.count].elementsEqual(key) else { return nil }
        return decode(bytes[key.count...])
    }

    /// `struct sock_filter`s: u16 code, u8 jt, u8 jf, u32 k, little-endian
    /// as this host writes them; 1...4096 of them (BPF_MAXINSNS).
    static func decode(_ bytes: ArraySlice<UInt8>) -> [SockFilter]? {
        guard bytes.count % 8 == 0, (1...4096).contains(bytes.count / 8) else { return nil }
        var program: [SockFilter] = []
        program.reserveCapacity(bytes.count / 8)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let code = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            let k = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
            program.append(SockFilter(code: code, jt: bytes[i + 2], jf: bytes[i + 3], k: k))
            i += 8
        }
        return program
    }

    static func encode(_ program: [SockFilter]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(program.count * 8)
        for f in program {
            bytes += [UInt8(f.code & 0xFF), UInt8(f.code >> 8), f.jt, f.jf,
                      UInt8(f.k & 0xFF), UInt8((f.k >> 8) & 0xFF), UInt8((f.k >> 16) & 0xFF), UInt8(f.k >> 24)]
        }
        return bytes
    }

    static func write(_ program: [SockFilter], key: [UInt8], to path: String) {
        StateFile.replace(path, with: key + encode(program))
    }
}
