import ArgumentParser
import SandboxCore

struct GcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove what a killed gradebox left behind (dead boxes, stray cgroups; with --pool the warm pool).")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Also remove the idle warm-pool slots.") var pool = false

    func run() throws {
        let r = try global.sandbox.gc(pool: pool)
        FileHandleLite.standardOutput.write(
            "removed \(r.boxes.count) boxes\(r.boxes.isEmpty ? "" : " (\(r.boxes.joined(separator: ", ")))"), "
            + "\(r.cgroups.count) cgroups, \(r.poolSlots) pool slots, \(r.mountTemplates) mount templates\n")
    }
}

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "The warm pool of cgroups and network namespaces (`run --pool` uses it).",
        subcommands: [Fill.self, Drain.self])

    struct Fill: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make N slots ready.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Number of slots.") var count: Int = 4
        func run() throws {
            guard count > 0 else { throw SandboxError.invalidRequest("pool fill: count must be positive") }
            let n = try global.sandbox.fillPool(count)
            FileHandleLite.standardOutput.write("\(n) warm-pool slots ready\n")
        }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every idle slot.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let r = try global.sandbox.gc(pool: true)
            FileHandleLite.standardOutput.write("removed \(r.poolSlots) pool slots\n")
        }
    }
}
