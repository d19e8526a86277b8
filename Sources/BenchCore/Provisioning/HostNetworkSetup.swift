/// Host network set-up in steps, all or nothing: ip(8) invocations, then
/// iptables FORWARD rules inserted at the top; on the first failure
/// `rollback` removes whatever was made and the step is named in the error.
/// Used for the Docker daemons' bridges and for the ping peer's namespaces.
enum HostNetworkSetup {
    static func apply(ip: [[String]], insertRules rules: [[String]], rollback: () async -> Void) async throws(BenchError) {
        let steps = ip.map { ("/usr/sbin/ip", $0) } + rules.map { ("/usr/sbin/iptables", ["-I"] + $0) }
        for (tool, argv) in steps {
            do { _ = try await Tool.output(tool, argv) } catch {
                await rollback()
                let name = tool.split(separator: "/").last.map(String.init) ?? tool
                throw .setupFailed(step: name + " " + argv.joined(separator: " "), reason: "\(error)")
            }
        }
    }
}
