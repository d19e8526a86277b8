#!/bin/sh
# /init of the cgroup v2 guest (busybox sh). Stage 1 copies the initramfs
# into a tmpfs and switches to it: gradebox's boxes pivot_root, which the
# kernel refuses on the initial rootfs. Stage 2 mounts the rest, makes the
# cgroup v2 tree as a systemd host has it, runs the phases listed in
# /etc/gradebox-guest/phases, reports each on the console between markers
# that the host side reads (scripts/guest/run.sh), then powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mark() { echo "GRADEBOX-GUEST $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
die() {
    mark "FAILED $*"
    mark "DONE status=1"
    sync
    poweroff -f
}

if [ "$1" != stage2 ]; then
    mount -t proc proc /proc
    mount -t tmpfs -o mode=0755,size=90% newroot /newroot || die "mount tmpfs /newroot"
    for entry in /*; do
        case "$entry" in
            /proc|/sys|/dev|/newroot) mkdir -p "/newroot$entry" ;;
            *) cp -a "$entry" /newroot/ || die "cp -a $entry /newroot" ;;
        esac
    done
    umount /proc
    exec switch_root /newroot /init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run /var/lib/gradebox/images
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
# Kernel messages (the OOM killer's) would cut test output lines apart.
dmesg -n 1
ip link set lo up
hostname gradebox-guest

# The virtio drivers are modules in Debian's kernels; the host side listed them in load order.
while read -r module; do
    insmod "/lib/modules/$module.ko" || die "insmod $module"
done < /etc/gradebox-guest/modules
# gradebox's image store, shared read-only by the host (9p).
mount -t 9p -o trans=virtio,version=9p2000.L,ro images /var/lib/gradebox/images \
    || die "mount 9p images (the host's /var/lib/gradebox/images) read-only"

# cgroup v2 only, mounted as systemd mounts it; the kernel was booted with cgroup_no_v1=all.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || die "mount cgroup2"
cg=/sys/fs/cgroup
all="+cpuset +cpu +io +memory +pids"
echo "$all" > $cg/cgroup.subtree_control || die "enable $all in $cg/cgroup.subtree_control"
# Root's tests run in a service's group, as under systemd.
mkdir -p $cg/system.slice/gradebox-tests.service
# The user's manager, delegated as systemd's Delegate=yes does it: the
# directory, cgroup.procs, cgroup.threads and cgroup.subtree_control
# belong to the user; the user's processes live in a group below it.
user_slice=$cg/user.slice/user-1000.slice
delegated=$user_slice/user@1000.service
mkdir -p "$delegated"
echo "$all" > $cg/user.slice/cgroup.subtree_control || die "enable controllers in user.slice"
echo "$all" > $user_slice/cgroup.subtree_control || die "enable controllers in user-1000.slice"
chown 1000:1000 "$delegated" "$delegated/cgroup.procs" "$delegated/cgroup.threads" "$delegated/cgroup.subtree_control"
su -s /bin/sh gbuser -c "mkdir -p $delegated/app.slice/gradebox-tests.scope" || die "mkdir of the user's own group (as the user)"

mark "kernel $(uname -r)"
mark "cmdline $(cat /proc/cmdline)"
mark "controllers $(cat $cg/cgroup.controllers)"
mark "subtree_control $(cat $cg/cgroup.subtree_control)"
mark "cpus $(nproc) memory_kb $(awk '/MemTotal/{print $2}' /proc/meminfo)"
mark "booted uptime=$(uptime_s)"

# A phase line: NAME USER CGROUP COMMAND... (the command run by sh -c in /gradebox).
status=0
while read -r name user group command; do
    case "$name" in ''|\#*) continue ;; esac
    start=$(uptime_s)
    mark "BEGIN $name user=$user uptime=$start"
    # A process of its own joins the phase's group ($$ of a subshell would be this shell's).
    sh -c '
        echo $$ > "$1/cgroup.procs" || exit 125
        echo "GRADEBOX-GUEST cgroup $2 $(tr "\n" " " < /proc/self/cgroup)($(wc -l < /proc/self/cgroup) line)"
        cd /gradebox || exit 125
        if [ "$3" = root ]; then exec sh -c "$4"; fi
        exec su -s /bin/sh "$3" -c "cd /gradebox && $4"
    ' phase "$cg/$group" "$name" "$user" "$command" < /dev/null 2>&1
    rc=$?
    mark "END $name status=$rc seconds=$(awk -v a="$start" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')"
    [ $rc -eq 0 ] || status=1
done < /etc/gradebox-guest/phases

# Nothing left behind. The pool's slots and the images' mount templates are
# kept on purpose until `gradebox gc --pool` (both are root's, so only
# root's state directories hold them); after it, no group is left below any
# gradebox parent, and no mount of the tests' state directories.
for state in /tmp/gradebox-itest-*/state*; do
    if [ -d "$state" ] && [ "$(stat -c %u "$state")" = 0 ]; then
        /gradebox/gradebox gc --pool --root "$state" > /dev/null || { mark "LEFTOVER gc --root $state failed"; status=1; }
    fi
done
left=$(find $cg -mindepth 2 -type d -path '*/gradebox/*' | head -20)
if [ -n "$left" ]; then mark "LEFTOVER cgroups: $left"; status=1; fi
mounts=$(grep -E 'gradebox' /proc/self/mountinfo | grep -v ' /var/lib/gradebox/images ' | head -5)
if [ -n "$mounts" ]; then mark "LEFTOVER mounts: $mounts"; status=1; fi
mark "leftovers checked: parents $(find $cg -type d -name gradebox | tr '\n' ' ')hold no group, no mount is left"
mark "DONE status=$status uptime=$(uptime_s)"
sync
poweroff -f
