import Testing
@testable import SandboxCore

@Suite("Stable hash of a state directory (cgroup name prefix)")
struct StableHashTests {
    /// FNV-1a 32-bit, as eight lower-case hex digits with leading zeros.
    @Test func fnv1aInEightHexDigits() {
        #expect(stableHash("") == "811c9dc5")
        #expect(stableHash("a") == "e40c292c")
        #expect(stableHash("foobar") == "bf9cf968")
        #expect(stableHash("/run/gradebox").count == 8)
    }
}
