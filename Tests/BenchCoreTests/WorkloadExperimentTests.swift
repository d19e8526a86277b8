import Foundation
import Testing

@testable import BenchCore

@Suite("I/O, network and ping experiments (plans)")
struct WorkloadExperimentPlanTests {
    @Test("the catalog names every experiment with its dataset sizes; an unknown size lists the valid ones")
    func catalogEntries() throws {
        let catalog = ExperimentCatalog.builtin.adding(WorkloadExperiments.entries(images: WorkloadImages(store: WorkloadStore(directory: "/nonexistent"))))
        #expect(try catalog.resolve("db-read").map { $0.dataset } == WorkloadCatalog.databases.map(\.size))
        let one = try catalog.resolve("files-write:10000")
        #expect(one.count == 1 && one[0].name == "files-write" && one[0].dataset == "10000")
        #expect { try catalog.resolve("db-write:10000") } throws: { "\($0)".contains("db-write:111.6MB") }
    }

    @Test("write commands target the image's own filesystem, or /tmp when the root is read-only")
    func commands() throws {
        let db = WorkloadImage(base: "minimal", dataset: try WorkloadCatalog.dataset(named: "db:2.6MB"))
        let files = WorkloadImage(base: "full", dataset: try WorkloadCatalog.dataset(named: "files:100"))
        #expect(IOExperiment.command(.dbRead, db)[2].hasPrefix("sqlite3 /data/db/tpcc-2.6MB.sqlite 'SELECT * FROM warehouse;"))
        #expect(IOExperiment.command(.dbRead, db)[2].hasSuffix("> /dev/null"))
        #expect(IOExperiment.command(.dbWrite, db)[2].contains("CREATE TABLE stock_copy AS SELECT * FROM stock;"))
        #expect(IOExperiment.command(.dbWrite, db, writableRoot: false)[2].hasPrefix("cp /data/db/tpcc-2.6MB.sqlite /tmp/db.sqlite && "))
        #expect(IOExperiment.command(.filesRead, files)[2] == "find /data/files/files-100 -type f | xargs cat > /dev/null")
        #expect(IOExperiment.command(.filesWrite, files)[2] == "mkdir -p /data/extract && tar -xf /data/files/files-100.tar -C /data/extract")
        #expect(IOExperiment.command(.filesWrite, files, writableRoot: false)[2].contains("-C /tmp/extract"))
    }

    @Test("the network image gets lighttpd, its missing libraries once, ping only where the base lacks it, and a page")
    func networkImagePlan() {
        let plan = NetworkImage(base: "full").plan(
            baseRootfs: "/b", lighttpd: ("/usr/sbin/lighttpd", ["/lib/libpcre2.so", "/lib/libc.so.6"]),
            ping: ("/bin/ping", ["/lib/libcap.so.2", "/lib/libc.so.6"]), exists: { $0 == "/b/lib/libc.so.6" })
        #expect(plan.name == "gradebox-full-net")
        #expect(plan.steps == [
            .linkTree(source: "/b"),
            .install(source: "/usr/sbin/lighttpd", destination: "/usr/sbin/lighttpd"),
            .install(source: "/lib/libpcre2.so", destination: "/lib/libpcre2.so"),
            .install(source: "/bin/ping", destination: "/bin/ping"),
            .install(source: "/lib/libcap.so.2", destination: "/lib/libcap.so.2"),
            .write(contents: NetworkImage.page, destination: "/srv/www/index.html"),
        ])
        let minimal = NetworkImage(base: "minimal").plan(
            baseRootfs: "/m", lighttpd: ("/usr/sbin/lighttpd", []), ping: ("/bin/ping", []), exists: { $0 == "/m/bin/ping" })
        #expect(!minimal.steps.contains(.install(source: "/bin/ping", destination: "/bin/ping")))
        #expect(NetworkImage.serverCommand(port: 8080)[2].contains("server.port = 8080"))
    }

    @Test("peer namespaces: created before their veths are moved in, and only on this host's private range")
    func peerNetworkPlan() {
        let cmds = PeerNetwork.setupCommands.map { $0.joined(separator: " ") }
        #expect(cmds.firstIndex(of: "netns add gbx-peer")! < cmds.firstIndex { $0.contains("peer name gbx-pr1 netns gbx-peer") }!)
        #expect(cmds.firstIndex(of: "netns add gbx-box")! < cmds.firstIndex { $0.contains("peer name gbx-bx1 netns gbx-box") }!)
        let addresses = PeerNetwork.setupCommands.flatMap { $0 }.filter { $0.first?.isNumber == true && $0.contains(".") }
        #expect(!addresses.isEmpty && addresses.allSatisfy { $0.hasPrefix("10.231.") })
        #expect(PeerNetwork.teardownCommands == [["netns", "del", "gbx-peer"], ["netns", "del", "gbx-box"]])
    }

    @Test("each manager gets a network it offers, and its driver accepts it")
    func placement() throws {
        func driver(_ name: String) throws -> any ContainerDriver {
            let c = try Catalog.lookupList(name)[0]
            switch c.manager {
            case .docker, .podman: return EngineDriver(candidate: c, socket: "/nonexistent.sock")
            case .containerd: return ContainerdDriver(candidate: c, socket: "/nonexistent.sock")
            case .lxc: return LXCDriver(candidate: c, lxcpath: "/nonexistent")
            case .oci: return OCIRuntimeDriver(candidate: c, images: ImageDirectory(indexPath: "/nonexistent.json"))
            case .bwrap: return BwrapDriver(candidate: c, images: ImageDirectory(indexPath: "/nonexistent.json"))
            case .gradebox: return GradeboxDriver(candidate: c)
            }
        }
        let expected: [(String, NetworkPlacement)] = [
            ("docker/crun/overlay2/minimal", .bridge), ("podman/crun/overlay/minimal", .bridge),
            ("crun", .box), ("runc", .box), ("containerd/crun/overlayfs/minimal", .box),
            ("lxc/lxc/dir/minimal", .host), ("bwrap", .host), ("gradebox", .host),
        ]
        for (name, placement) in expected {
            let d = try driver(name)
            #expect(try NetworkPlacement.of(d) == placement, "\(name)")
            let ports = placement == .bridge ? [PortMapping(hostPort: 8080, containerPort: 80)] : []
            #expect(throws: Never.self, "\(name)") {
                try d.requireNetwork(CreateRequest(name: "n", image: "i", argv: ["true"], network: placement.request, publishedPorts: ports))
            }
        }
        // And the refusals name what is offered.
        let lxc = try driver("lxc/lxc/dir/minimal")
        #expect(throws: BenchError.self) { try lxc.requireNetwork(CreateRequest(name: "n", image: "i", argv: ["true"], network: .bridge)) }
        let crun = try driver("crun")
        #expect(throws: BenchError.self) {
            try crun.requireNetwork(CreateRequest(name: "n", image: "i", argv: ["true"], network: .none,
                                                  publishedPorts: [PortMapping(hostPort: 1, containerPort: 2)]))
        }
    }

    @Test("ping reply times are read from iputils' and busybox's output")
    func pingParsing() {
        let iputils = """
            PING 10.231.77.2 (10.231.77.2) 56(84) bytes of data.
            64 bytes from 10.231.77.2: icmp_seq=1 ttl=64 time=0.105 ms
            64 bytes from 10.231.77.2: icmp_seq=2 ttl=64 time=0.044 ms
            rtt min/avg/max/mdev = 0.044/0.074/0.105/0.030 ms
            """
        #expect(PingExperiment.replyTimes(iputils) == [0.105, 0.044])
        let busybox = "64 bytes from 10.231.77.2: seq=0 ttl=64 time=0.210 ms\n64 bytes from 10.231.77.2: seq=1 ttl=64 time=0.071 ms\n"
        #expect(PingExperiment.replyTimes(busybox) == [0.21, 0.071])
    }
}
