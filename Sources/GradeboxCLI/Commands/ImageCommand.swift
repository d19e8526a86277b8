import ArgumentParser
import SandboxCore

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Images: build the built-in ones, import, list, remove.",
        subcommands: [Build.self, Import.self, Ls.self, Rm.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build `minimal` (busybox-static, stands in for Alpine) or `full` (Debian minbase, stands in for CentOS).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "minimal, full or inginious-default.") var kind: BuiltinImage
        @Option(help: "Image name (default: the kind).") var name: String?
        @Flag(help: "Replace an existing image of that name (it is kept until the new one is built).") var replace = false
        func run() async throws {
            let info = try await ImageStore(directory: global.images).build(kind, name: name, replace: replace) { line in
                FileHandleLite.standardError.write("  \(line)\n")
            }
            FileHandleLite.standardOutput.write("built \(info.name): \(info.sizeBytes / 1024) KiB, \(info.fileCount) files\n")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a rootfs directory, a tar, a `docker save` archive or an OCI image layout.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Image name.") var name: String
        @Argument(help: "Directory, tar, docker-save archive or OCI layout.") var source: String
        @Flag(help: "Replace an existing image of that name.") var replace = false
        func run() async throws {
            let info = try await ImageStore(directory: global.images).importImage(name: name, from: source, replace: replace) { line in
                FileHandleLite.standardError.write("  \(line)\n")
            }
            FileHandleLite.standardOutput.write("imported \(info.name): \(info.sizeBytes / 1024) KiB, \(info.fileCount) files\n")
        }
    }

    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List images.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "JSON array.") var json = false
        func run() throws {
            let images = try ImageStore(directory: global.images).list()
            if json { printJSON(images); return }
            var lines = ["NAME\tSIZE\tFILES\tSOURCE"]
            for i in images { lines.append("\(i.name)\t\(i.sizeBytes / 1024) KiB\t\(i.fileCount)\t\(i.source)") }
            FileHandleLite.standardOutput.write(lines.joined(separator: "\n") + "\n")
        }
    }

    struct Rm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove images.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Image names.") var names: [String]
        func run() throws {
            let store = ImageStore(directory: global.images)
            for n in names { try store.remove(n) }
        }
    }
}

extension BuiltinImage: ExpressibleByArgument {}
