import Testing
@testable import SandboxCore

@Suite("cgroupfs numbers and keyed values, parsed on bytes")
struct CgroupFilesParsingTests {
    @Test func numbers() {
        #expect(parseCgroupNumber("2831507\n") == 2831507)
        #expect(parseCgroupNumber("  42 \n") == 42)
        #expect(parseCgroupNumber("0") == 0)
        #expect(parseCgroupNumber("18446744073709551615\n") == UInt64.max)
        #expect(parseCgroupNumber("18446744073709551616\n") == nil, "overflow")
        #expect(parseCgroupNumber("max\n") == nil)
        #expect(parseCgroupNumber("") == nil)
        #expect(parseCgroupNumber("\n") == nil)
        #expect(parseCgroupNumber("12 34") == nil)
        #expect(parseCgroupNumber("-1") == nil)
    }

    @Test func keyedValues() {
        let oomControl = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
        #expect(parseKeyedValue(oomControl, key: "oom_kill") == 3, "not oom_kill_disable's value")
        #expect(parseKeyedValue(oomControl, key: "under_oom") == 0)
        #expect(parseKeyedValue(oomControl, key: "oom") == nil)
        #expect(parseKeyedValue("max 0\n", key: "max") == 0)
        #expect(parseKeyedValue("usage_usec 42", key: "usage_usec") == 42, "no final newline")
        #expect(parseKeyedValue("usage_usec\n", key: "usage_usec") == nil)
        #expect(parseKeyedValue("\n\nkey 7\n", key: "key") == 7)
        #expect(parseKeyedValue("", key: "key") == nil)
        #expect(parseKeyedValue("key x\n", key: "key") == nil)
    }
}
