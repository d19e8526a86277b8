#!/usr/bin/env bash
# The cgroup v2 guest tier: gradebox's integration tests on a real cgroup v2
# kernel. This kind of host is hybrid (v1 controllers), cannot be rebooted
# into v2, and its /dev/kvm cannot run a stock kernel; so QEMU (TCG) boots
# Debian's own kernel package (apt-get download, unpacked, never installed
# here) with an initramfs holding busybox, the test binary, `gradebox` and
# their shared libraries, and the host's image store shared read-only (9p).
# The guest mounts cgroup2 alone, delegates a subtree to uid 1000 as systemd
# does, runs the phases below and reports on its serial console; this reads
# the report back, prints what ran, and fails when anything did not pass
# (a test skipped in the guest counts as not passed).
#
#   sudo bash scripts/guest/run.sh        # builds what is not built (swift build --build-tests) first
#
# GRADEBOX_GUEST_TIMEOUT (seconds, default 1200), GRADEBOX_GUEST_MEMORY
# (default 3G), GRADEBOX_GUEST_KERNEL (default linux-image-amd64, or a
# versioned package), GRADEBOX_GUEST_ROOT_FILTER (swift-testing --filter of
# the root phase), GRADEBOX_GUEST_CACHE (default /var/cache/gradebox-guest).
source "$(dirname "$0")/../lib.sh"
need_root

timeout_s=${GRADEBOX_GUEST_TIMEOUT:-1200}
memory=${GRADEBOX_GUEST_MEMORY:-3G}
kernel_package=${GRADEBOX_GUEST_KERNEL:-linux-image-amd64}
cache=${GRADEBOX_GUEST_CACHE:-/var/cache/gradebox-guest}
images=/var/lib/gradebox/images
root_filter=${GRADEBOX_GUEST_ROOT_FILTER:-SandboxIntegrationTests}
# The root phase runs every integration test of the sandbox but these: v1
# only, the user's (its own phase), image builds (no cgroup in them), and
# the seccomp probe, which compiles a C program (the guest has no compiler;
# the filter is the same whatever the cgroup version).
root_skip='CgroupV1IntegrationTests|RootlessV2Tests|ImageBuildTests|theSeccompFilterRefusesPtraceNewNamespacesAndKeyrings'
# Modules the guest loads (with what they depend on): the virtio PCI
# transport, 9p over virtio for the image store, overlay for --rootfs overlay.
wanted_modules=(virtio_pci 9pnet_virtio 9p overlay)

fail() {
    echo "gradebox guest tier: FAILED: $*" >&2
    exit 1
}
# Any other command that fails stops the tier saying which (set -e alone would stop it silently).
set -E
trap 'echo "gradebox guest tier: FAILED: line $LINENO of scripts/guest/run.sh: $BASH_COMMAND" >&2' ERR
t_start=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

step "cgroup v2 guest tier: checking what the guest needs"
install_packages qemu-system-x86 busybox-static libc-bin binutils
command -v qemu-system-x86_64 > /dev/null || fail "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
command -v dpkg-deb > /dev/null || fail "dpkg-deb is missing"
command -v ldconfig > /dev/null || fail "ldconfig is missing (libc-bin)"
file_is_static() { ! ldd "$1" > /dev/null 2>&1; }
[ -x /bin/busybox ] && file_is_static /bin/busybox || fail "/bin/busybox is missing or not static (apt-get install busybox-static)"
command -v swift > /dev/null || fail "swift is not on PATH: the tier runs the debug build's binaries"
# Never a stale binary: a no-op when the build is up to date (test.sh has just built).
mkdir -p "$cache"
if ! swift build --build-tests > "$cache/build.log" 2>&1; then
    grep -E 'error:' "$cache/build.log" | head -20 >&2
    fail "swift build --build-tests failed (its output: $cache/build.log)"
fi
tail -1 "$cache/build.log"
bin=$(swift build --show-bin-path)
tests_binary=$bin/gradeboxPackageTests.xctest
for b in "$tests_binary" "$bin/gradebox"; do
    [ -x "$b" ] || fail "$b is missing: build first (swift build --build-tests)"
done
if [ ! -d "$images/minimal/rootfs" ]; then
    "$bin/gradebox" image build minimal || fail "the image store has no minimal image and \`gradebox image build minimal\` failed"
fi
available_kb=$(awk '/MemAvailable/ { print $2 }' /proc/meminfo)
need_kb=$(( $(numfmt --from=iec "$memory") / 1024 + 1024 * 1024 ))
[ "$available_kb" -ge "$need_kb" ] || fail "the guest needs $memory plus 1 GiB of working room; this host has $((available_kb / 1024)) MiB available"

step "cgroup v2 guest tier: Debian's kernel ($kernel_package)"
mkdir -p "$cache/deb"
# apt resolves the metapackage to the versioned image it depends on.
package=$kernel_package
if dependency=$(apt-cache depends "$kernel_package" 2> /dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') && [ -n "$dependency" ]; then
    package=$dependency
fi
version=$(apt-cache show --no-all-versions "$package" 2> /dev/null | awk '/^Version:/ { print $2; exit }') || version=""
if [ -z "$version" ] && [ -z "${GRADEBOX_GUEST_KERNEL:-}" ]; then
    # Without apt's lists (offline, say), the newest kernel unpacked before will do.
    kernel_dir=$(ls -dt "$cache"/linux-image-*/.unpacked 2> /dev/null | head -1) || kernel_dir=""
    [ -n "$kernel_dir" ] || fail "apt knows no package $package (apt-get update? GRADEBOX_GUEST_KERNEL names another) and $cache holds no kernel unpacked before"
    kernel_dir=${kernel_dir%/.unpacked}
    read -r package version < "$kernel_dir/.unpacked"
    echo "apt knows no $kernel_package: using $kernel_dir, unpacked before"
else
    [ -n "$version" ] || fail "apt knows no package $package (apt-get update? GRADEBOX_GUEST_KERNEL names another)"
    kernel_dir=$cache/$package-$version
fi
if [ ! -e "$kernel_dir/.unpacked" ]; then
    rm -rf "$kernel_dir"
    deb=$(ls "$cache/deb/${package}_${version//:/%3a}_"*.deb 2> /dev/null | head -1) || deb=""
    if [ -z "$deb" ]; then
        (cd "$cache/deb" && apt-get download "$package=$version") > "$cache/download.log" 2>&1 \
            || fail "apt-get download $package=$version failed (the guest boots Debian's own kernel: Debian's mirror must be reachable once, then $cache keeps it): $(tail -2 "$cache/download.log")"
        deb=$(ls "$cache/deb/${package}_${version//:/%3a}_"*.deb | head -1)
    fi
    dpkg-deb -x "$deb" "$kernel_dir" || fail "dpkg-deb -x $deb"
    echo "$package $version" > "$kernel_dir/.unpacked"
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* 2> /dev/null | head -1) || vmlinuz=""
moddir=$(ls -d "$kernel_dir"/lib/modules/* 2> /dev/null | head -1) || moddir=""
[ -f "$vmlinuz" ] && [ -d "$moddir" ] || fail "$kernel_dir has no boot/vmlinuz-* or lib/modules/*: is $package a kernel image?"
echo "kernel: $package $version ($vmlinuz)"

step "cgroup v2 guest tier: the initramfs"
t_initramfs=$(date +%s.%N)
work=$cache/initramfs
rm -rf "$work"
mkdir -p "$work"/{bin,sbin,etc/gradebox-guest,lib/modules,lib64,proc,sys,dev,tmp,run,newroot,root,gradebox,var/lib/gradebox/images}
cp /bin/busybox "$work/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$work/bin/$applet" ] || ln -s busybox "$work/bin/$applet"
done
install -m 755 scripts/guest/init.sh "$work/init"
install -m 755 scripts/guest/cli-checks.sh "$work/gradebox/cli-checks.sh"
mkdir -p "$work/home/gbuser"
chown 1000:1000 "$work/home/gbuser"
printf 'root:x:0:0:root:/root:/bin/sh\ngbuser:x:1000:1000:gradebox tests:/home/gbuser:/bin/sh\n' > "$work/etc/passwd"
printf 'root:x:0:\ngbuser:x:1000:\n' > "$work/etc/group"

# The modules, and those they depend on, first (modinfo's depends= field, read from the file itself).
loaded=()
add_module() {
    local name=$1 file deps
    [[ " ${loaded[*]} " == *" $name "* ]] && return 0
    file=$(find "$moddir/kernel" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" | head -1)
    if [ -z "$file" ]; then
        grep -q "/$name.ko\$" "$moddir/modules.builtin" 2> /dev/null && return 0
        fail "module $name is neither in $moddir nor built into the kernel"
    fi
    case "$file" in
        *.xz) xz -dc "$file" > "$work/lib/modules/$name.ko" ;;
        *.zst) zstd -qdc "$file" > "$work/lib/modules/$name.ko" ;;
        *) cp "$file" "$work/lib/modules/$name.ko" ;;
    esac
    deps=$(tr '\0' '\n' < "$work/lib/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
    for dep in $deps; do add_module "$dep"; done
    loaded+=("$name")
    echo "$name" >> "$work/etc/gradebox-guest/modules"
}
: > "$work/etc/gradebox-guest/modules"
for m in "${wanted_modules[@]}"; do add_module "$m"; done
echo "modules: ${loaded[*]}"

# The binaries, without their debug info, and every library the test binary
# loads, at the same paths (`gradebox` is linked statically).
strip --strip-debug -o "$work/gradebox/gradeboxPackageTests.xctest" "$tests_binary"
strip --strip-debug -o "$work/gradebox/gradebox" "$bin/gradebox"
for lib in $(ldd "$tests_binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/lib/ { print $1 }' | sort -u); do
    mkdir -p "$work$(dirname "$lib")"
    cp -L "$lib" "$work$lib"
done
printf '/opt/swift/usr/lib/swift/linux\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' > "$work/etc/ld.so.conf"
ldconfig -r "$work" 2> /dev/null || fail "ldconfig -r $work"

# The phases: NAME USER CGROUP COMMAND. Output without colours. One test at a
# time: two CPUs under TCG, and the CPU share test wants the box's CPU to itself.
testing="env TERM=dumb NO_COLOR=1 ./gradeboxPackageTests.xctest --testing-library swift-testing --no-parallel"
cat > "$work/etc/gradebox-guest/phases" << EOF
root root system.slice/gradebox-tests.service $testing --filter '$root_filter' --skip '$root_skip'
rootless gbuser user.slice/user-1000.slice/user@1000.service/app.slice/gradebox-tests.scope $testing --filter RootlessV2Tests
cli-root root system.slice/gradebox-tests.service sh ./cli-checks.sh
cli-rootless gbuser user.slice/user-1000.slice/user@1000.service/app.slice/gradebox-tests.scope sh ./cli-checks.sh
EOF
initrd=$cache/initrd.cpio
# Uncompressed: the kernel copies it at memory speed, where TCG would take seconds to inflate it.
(cd "$work" && find . | busybox cpio -o -H newc 2> /dev/null) > "$initrd"
echo "initramfs: $(du -m "$initrd" | cut -f1) MB in $(since "$t_initramfs") s"

step "cgroup v2 guest tier: booting the guest (QEMU TCG, ${memory}, 2 CPUs; at most ${timeout_s} s)"
log=$cache/guest.log
t_guest=$(date +%s.%N)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m "$memory" \
    -display none -monitor none -serial stdio -no-reboot -nic none \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
    -virtfs "local,path=$images,mount_tag=images,security_model=none,readonly=on" \
    < /dev/null 2>&1 | tr -d '\r' | tee "$log" | sed -u 's/^/  guest| /'
qemu_status=${PIPESTATUS[0]}
set -e
guest_seconds=$(since "$t_guest")

step "cgroup v2 guest tier: what ran"
marker() { sed -n "s/^GRADEBOX-GUEST $1 //p" "$log" | head -1; }
echo "kernel in the guest:  $(marker kernel)  (Debian's $package $version)"
echo "controllers:          $(marker controllers)"
echo "guest booted after:   $(marker booted | sed 's/uptime=//') s of guest uptime"
problems=()
# Each phase: its /proc/self/cgroup, its status and time, its tests' summary; skips fail the tier.
awk '
    /^GRADEBOX-GUEST BEGIN / { phase = $3 }
    /^GRADEBOX-GUEST END /   { phase = "" }
    phase != "" { print phase "\t" $0 }
' "$log" > "$cache/phases.out"
while read -r phase; do
    begin=$(grep -m1 "^GRADEBOX-GUEST BEGIN $phase " "$log" || true)
    end=$(grep -m1 "^GRADEBOX-GUEST END $phase " "$log" || true)
    cgroup=$(sed -n "s/^GRADEBOX-GUEST cgroup $phase //p" "$log" | head -1)
    summary=$(awk -F'\t' -v p="$phase" '$1 == p && ($2 ~ /Test run with/ || $2 ~ /checks failed$/) { print $2 }' "$cache/phases.out" | tail -1)
    skipped=$(awk -F'\t' -v p="$phase" '$1 == p && $2 ~ /skipped/ { print $2 }' "$cache/phases.out")
    if [ -z "$begin" ]; then
        problems+=("phase $phase never began")
        printf 'phase %-13s did not run\n' "$phase"
        continue
    fi
    if [ -z "$end" ]; then
        problems+=("phase $phase did not end (the guest stopped or ran out of time in it)")
        printf 'phase %-13s did not end\n' "$phase"
        continue
    fi
    status=$(sed -n 's/.* status=\([0-9]*\).*/\1/p' <<< "$end")
    seconds=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<< "$end")
    printf 'phase %-13s %-7s %7s s   in %s\n' "$phase" "$([ "$status" = 0 ] && echo passed || echo FAILED)" "$seconds" "$cgroup"
    [ -z "$summary" ] || echo "                    ${summary}"
    # What ran: the suites (swift-testing's last line for each), or the checks.
    awk -F'\t' -v p="$phase" '$1 == p { print $2 }' "$cache/phases.out" \
        | sed -n -e 's/^.*Suite "\(.*\)" \(passed\|failed\) after.*$/                      suite \2: \1/p' \
            -e 's/^\(PASS\|FAIL\) \(.*\)$/                      \1 \2/p'
    [ "$status" = 0 ] || problems+=("phase $phase exited with status $status")
    if [ -n "$skipped" ]; then
        problems+=("phase $phase skipped tests the guest must run")
        sed 's/^/                    /' <<< "$skipped"
    fi
done < <(sed -n 's/^GRADEBOX-GUEST BEGIN \([^ ]*\) .*/\1/p' "$log"; grep -q '^GRADEBOX-GUEST BEGIN rootless' "$log" || echo rootless)
sed -n 's/^GRADEBOX-GUEST \(LEFTOVER\|FAILED\)/\1/p' "$log"
if grep -q '^GRADEBOX-GUEST LEFTOVER' "$log"; then problems+=("the guest found leftovers"); fi
if grep -q '^GRADEBOX-GUEST FAILED' "$log"; then problems+=("the guest's set-up failed: $(marker FAILED)"); fi
marker leftovers | sed 's/^/leftovers:            /'
done_line=$(marker DONE)
if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
    problems+=("the guest ran out of its ${timeout_s} s (GRADEBOX_GUEST_TIMEOUT)")
elif [ -z "$done_line" ]; then
    problems+=("the guest ended without its report (QEMU exit status $qemu_status): see $log")
elif [ "${done_line%% *}" != status=0 ]; then
    problems+=("the guest reported ${done_line%% *}")
fi
echo "guest:                ${guest_seconds} s from QEMU's start to its end; the tier $(since "$t_start") s in all"
echo "log:                  $log"
if [ ${#problems[@]} -gt 0 ]; then
    printf 'gradebox guest tier: FAILED: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "gradebox guest tier: every phase passed on cgroup v2 ($(marker kernel))"
