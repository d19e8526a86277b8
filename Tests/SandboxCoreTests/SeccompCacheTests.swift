#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SandboxCore

@Suite struct SeccompCacheTests {
    let program = try! SeccompPolicy.gradeboxDefault.compile(for: .x86_64)

    @Test func aProgramSurvivesTheRoundTrip() {
        #expect(SeccompCache.decode(ArraySlice(SeccompCache.encode(program))) == program)
    }

    @Test func theFirstProcessCompilesAndTheNextOnesReadIt() throws {
        let dir = TemporaryDirectory()
        var compiled = 0
        let compile = { () throws(SandboxError) -> [SockFilter] in compiled += 1; return program }
        let first = try SeccompCache.program(in: dir.path, arch: .x86_64, compile: compile)
        let second = try SeccompCache.program(in: dir.path, arch: .x86_64, compile: compile)
        #expect(first == program && second == program)
        #expect(compiled == 1)
    }

    @Test func anotherBinaryOrADamagedFileIsCompiledAfresh() throws {
        let dir = TemporaryDirectory()
        let key = try #require(SeccompCache.binaryKey(.x86_64))
        let path = dir.path + "/seccomp-x86_64.bpf"
        SeccompCache.write(program, key: key, to: path)
        #expect(SeccompCache.read(path, key: key) == program)
        // Another binary (another key), a torn file, a file others may write: not trusted.
        #expect(SeccompCache.read(path, key: Array("gradebox-seccomp 1 x86_64 0 0 0 0.0\n".utf8)) == nil)
        let whole = try Kernel.readFile(path)
        _ = dir.write("seccomp-x86_64.bpf", Array(whole.dropLast(3)))
        #expect(SeccompCache.read(path, key: key) == nil)
        SeccompCache.write(program, key: key, to: path)
        chmod(path, 0o666)
        #expect(SeccompCache.read(path, key: key) == nil)
    }
}
