import Testing
import Foundation
@testable import GradeboxCLI
import SandboxCore

@Suite struct EnvironmentTests {
    @Test func aBoxGetsOnlyWhatItIsGivenOnTopOfPathHomeAndLang() throws {
        let file = NSTemporaryDirectory() + "gradebox-env-\(UUID().uuidString)"
        try "# judge settings\nA=from-file\n\n  B=2\r\nLANG=C\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        setenv("GRADEBOX_TEST_KEPT", "kept value", 1)
        setenv("GRADEBOX_TEST_NOT_KEPT", "secret", 1)
        var iso = IsolationValues(image: "minimal")
        iso.envFiles = [file]
        iso.keepEnv = ["GRADEBOX_TEST_KEPT", "GRADEBOX_TEST_UNSET"]
        iso.env = ["A=from-flag"]
        let env = try iso.spec(command: ["x"], limits: Limits()).environment
        #expect(env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "B=2", "LANG=C",
                        "GRADEBOX_TEST_KEPT=kept value", "A=from-flag"])
        #expect(!env.contains { $0.hasPrefix("GRADEBOX_TEST_NOT_KEPT") })
    }

    @Test func badEnvironmentInputIsABadRequest() {
        var iso = IsolationValues(image: "minimal")
        iso.envFiles = ["/nonexistent/env"]
        #expect(throws: SandboxError.invalidRequest("--env-file: cannot read /nonexistent/env")) { try iso.spec(command: ["x"], limits: Limits()) }
        iso.envFiles = []
        iso.keepEnv = ["A=B"]
        #expect(throws: SandboxError.self) { try iso.spec(command: ["x"], limits: Limits()) }
    }
}
