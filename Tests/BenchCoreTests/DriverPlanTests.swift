import Foundation
import Testing
@testable import BenchCore

@Suite("Driver plans: what each driver would send, without a host")
struct DriverPlanTests {
    let request = CreateRequest(name: "gbx-1", image: "gradebox-minimal", argv: CreateRequest.waitingShell)

    @Test func ociConfigFollowsTheRequest() throws {
        let c = OCIRuntimeDriver.config(request, rootfs: "/img", cgroupsPath: "/gradebox-bench/gbx-1", limited: true)
        let linux = try #require(c["linux"] as? [String: Any])
        let ns = try #require(linux["namespaces"] as? [[String: Any]]).compactMap { $0["type"] as? String }
        #expect(ns == ["pid", "ipc", "uts", "mount", "network"])
        let res = try #require(linux["resources"] as? [String: Any])
        #expect((res["memory"] as? [String: Any])?["limit"] as? Int64 == 1 << 30)
        #expect((c["root"] as? [String: Any])?["readonly"] as? Bool == true)
        #expect((c["process"] as? [String: Any])?["args"] as? [String] == CreateRequest.waitingShell)

        var joined = request
        joined.network = .namespace(path: "/run/netns/peer")
        let j = OCIRuntimeDriver.config(joined, rootfs: "/img", cgroupsPath: nil, limited: false)
        let jl = try #require(j["linux"] as? [String: Any])
        let net = try #require((jl["namespaces"] as? [[String: Any]])?.first { $0["type"] as? String == "network" })
        #expect(net["path"] as? String == "/run/netns/peer")
        #expect((jl["resources"] as? [String: Any])?["memory"] == nil)
        #expect(jl["cgroupsPath"] == nil)
    }

    @Test func dockerDaemonsLiveSideBySide() {
        let o = Provisioner.dockerConfig(.overlay2), v = Provisioner.dockerConfig(.vfs), b = Provisioner.dockerConfig(.btrfs)
        #expect(o["storage-driver"] as? String == "overlay2")
        #expect(o["bridge"] as? String == "gbxd-overlay2")
        #expect(v["bridge"] as? String == "gbxd-vfs")
        #expect(v["iptables"] as? Bool == false)
        let bridges = Storage.allCases.map { DockerBridge($0) }
        #expect(bridges.allSatisfy { $0.name.utf8.count <= 15 && $0.name.hasPrefix("gbxd-") })
        #expect(Set(bridges.map(\.name)).count == bridges.count)
        #expect(Set(bridges.compactMap(\.gateway)).count == bridges.count)
        #expect(bridges.allSatisfy { $0.gateway?.hasPrefix("172.31.") == true && $0.gateway?.hasSuffix(".1/24") == true })
        // The accepts are inserted after the drop, so they sit above it.
        #expect(DockerBridge(.vfs).forwardRules.first?.last == "DROP")
        #expect((b["data-root"] as? String)?.hasPrefix(BtrfsLoop.mountPoint) == true)
        #expect(Set([o, v, b].compactMap { $0["data-root"] as? String }).count == 3)
        #expect(((o["runtimes"] as? [String: Any])?["crun"] as? [String: String])?["path"] == "/usr/bin/crun")
    }

    @Test func engineCreateBodies() throws {
        let docker = EngineDriver(candidate: try Catalog.lookup("#10"), socket: "/x.sock")
        var r = request
        r.publishedPorts = [PortMapping(hostPort: 18080, containerPort: 80)]
        r.network = .bridge
        let d = docker.createBody(r)
        let host = try #require(d["HostConfig"] as? [String: Any])
        #expect(host["Runtime"] as? String == "crun")
        #expect(host["NetworkMode"] as? String == "bridge")
        #expect(host["Memory"] as? Int64 == 1 << 30)
        #expect(host["NanoCpus"] as? Int64 == 1_000_000_000)
        #expect(((host["PortBindings"] as? [String: Any])?["80/tcp"] as? [[String: String]])?.first?["HostPort"] == "18080")

        let podman = EngineDriver(candidate: try Catalog.lookup("#58"), socket: "/y.sock")
        let p = podman.createBody(request)
        #expect(p["oci_runtime"] as? String == "crun")
        #expect((p["netns"] as? [String: String])?["nsmode"] == "none")
        #expect(p["resource_limits"] == nil, "rootless on a v1 host runs without limits")
    }

    @Test func demultiplexesTheExecStream() {
        let frame: (UInt8, String) -> [UInt8] = { s, t in [s, 0, 0, 0, 0, 0, 0, UInt8(t.utf8.count)] + Array(t.utf8) }
        let (out, err) = EngineAPI.demultiplex(frame(1, "Hello ") + frame(2, "oops") + frame(1, "World\n"))
        #expect(out == "Hello World\n")
        #expect(err == "oops")
        #expect(EngineAPI.demultiplex(Array("plain tty\n".utf8)).stdout == "plain tty\n")
    }

    @Test func lxcConfigHasTheThesisLimits() {
        let c = LXCDriver.config(name: "base-gradebox-minimal", rootfs: "/p/rootfs", storage: .btrfs, limited: true)
        #expect(c.contains("lxc.rootfs.path = btrfs:/p/rootfs"))
        #expect(c.contains("lxc.cgroup.memory.limit_in_bytes = 1073741824"))
        #expect(c.contains("lxc.net.0.type = empty"))
        #expect(!LXCDriver.config(name: "b", rootfs: "/r", storage: .dir, limited: false).contains("memory"))
    }

    @Test func teardownFindsNestedMountsDeepestFirst() {
        let info = """
        40 25 0:40 / /var/lib/gradebox-bench/btrfs rw - btrfs /dev/loop0 rw
        41 40 0:41 / /var/lib/gradebox-bench/btrfs/docker/btrfs/x rw - btrfs /dev/loop0 rw
        42 25 0:42 / /var/lib/other rw - ext4 /dev/vda rw
        """
        #expect(Provisioner.mounts(under: "/var/lib/gradebox-bench/btrfs/", mountinfo: info) == ["/var/lib/gradebox-bench/btrfs/docker/btrfs/x"])
        #expect(Provisioner.mounts(under: "/var/lib/gradebox-bench/", mountinfo: info)
            == ["/var/lib/gradebox-bench/btrfs/docker/btrfs/x", "/var/lib/gradebox-bench/btrfs"])
    }

    @Test func containerdConfigKeepsItsOwnPaths() throws {
        let c = ContainerdDriver.config(root: "/var/lib/x", state: "/run/x", socket: "/run/x.sock")
        #expect(c.contains("address = \"/run/x.sock\""))
        #expect(c.contains("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]"))
        #expect(ContainerdDriver(candidate: try Catalog.lookup("containerd/crun/overlayfs/minimal"), socket: "/s").lifecycle == .oneShot)
        #expect(ContainerdDriver(candidate: try Catalog.lookup("containerd"), socket: "/s").lifecycle == .full)
    }

    @Test func bwrapArguments() throws {
        let a = try BwrapDriver.arguments(CreateRequest(name: "x", image: "i", argv: ["/bin/echo", "hi"]), rootfs: "/img")
        #expect(a.contains("--unshare-all"))
        #expect(!a.contains("--share-net"), "network none keeps the new network namespace")
        #expect(Array(a.suffix(3)) == ["--", "/bin/echo", "hi"])
        #expect(!a.contains("--cap-add"))
        var ping = CreateRequest(name: "x", image: "i", argv: ["ping"])
        ping.capabilities = ["NET_RAW"]
        let b = try BwrapDriver.arguments(ping, rootfs: "/img")
        #expect(b.contains(["--cap-add", "CAP_NET_RAW"]))
        #expect(throws: BenchError.self) {
            try BwrapDriver.arguments(CreateRequest(name: "x", image: "i", argv: ["true"], network: .bridge), rootfs: "/img")
        }
    }
}
