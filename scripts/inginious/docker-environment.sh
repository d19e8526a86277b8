#!/bin/bash
# Makes the Docker image the stock INGInious Docker agent grades with, from
# gradebox's own `inginious-default` rootfs (the same bits for both agents), and
# saves it with `docker save` so that gradebox can import exactly that:
#
#   scripts/inginious/docker-environment.sh [TAR]   (default TAR: /var/tmp/inginious-c-default-gradebox.tar)
#   gradebox image import NAME TAR                  (then, if wanted)
#
# Env: DOCKER_IMAGE (default ingi/inginious-c-default:gradebox), GRADEBOX, DOCKER_HOST.
#
# What the image needs, from INGInious 0.9.2 (base-containers/base/Dockerfile,
# default/Dockerfile, agent/docker_agent/_docker_interface.py):
# - LABEL org.inginious.grading.name=default: the agent lists images by this
#   label, the value is the environment id tasks name (environment_id: default).
# - LABEL org.inginious.grading.agent_version=3: any other value is ignored.
# - CMD ["INGInious"]: the agent creates the grading container without a
#   command, and /bin/INGInious (#!/bin/python3) is the main process that talks
#   with the agent over stdin/stdout. Student containers get the command
#   `_run_student_intern RUNTIME PARENT_RUNTIME`.
# - USER root (no USER): INGInious chowns /task etc. and drops to `worker`
#   (uid 4242) itself. WORKDIR: none in the stock image (INGInious chdirs to /task).
# - No /.__input: INGInious's student containers (_run_student_intern) mkdir
#   it unconditionally and die when it exists. gradebox's inginious-default
#   has it (a read-only root needs its mount points); the image exported here
#   leaves it out, and gradebox grades that image under a writable overlay,
#   as it does INGInious's own images (they have none of the mount points).
# - ENV LANG/LANGUAGE/LC_ALL: the stock image sets en_US.UTF-8; Debian minbase
#   has only C.UTF-8, so C.UTF-8 (UTF-8 I/O for Python either way). PATH set
#   explicitly (docker import has none; the daemon's default is the same).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAR="${1:-/var/tmp/inginious-c-default-gradebox.tar}"
ROOTFS=/var/lib/gradebox/images/inginious-default/rootfs

if [ ! -x "$ROOTFS/bin/INGInious" ]; then
    say "no $ROOTFS: $GRADEBOX image build inginious-default"
    "$GRADEBOX" image build inginious-default
fi
ensure_docker

created="$(sed -n 's/.*"createdAt" *: *"\([^"]*\)".*/\1/p' "$ROOTFS/../image.json" 2>/dev/null || true)"
say "docker import $ROOTFS (gradebox image created ${created:-?}) as $DOCKER_IMAGE"
tar -C "$ROOTFS" --numeric-owner --exclude=./.__input -c . | docker import \
    --change 'LABEL org.inginious.grading.name=default' \
    --change 'LABEL org.inginious.grading.agent_version=3' \
    --change "LABEL org.gradebox.rootfs.created=${created:-unknown}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV LANGUAGE=C.UTF-8' \
    --change 'ENV LC_ALL=C.UTF-8' \
    --change 'CMD ["INGInious"]' \
    --message "gradebox inginious-default rootfs for the stock INGInious Docker agent" \
    - "$DOCKER_IMAGE" >&2

# Older imports of the same name become dangling: remove them (the agent keeps the newest
# image per name anyway, but stale ones only waste space).
docker image prune -f --filter "label=org.inginious.grading.name=default" >/dev/null || true

say "docker save $DOCKER_IMAGE -> $TAR"
mkdir -p "$(dirname "$TAR")"
docker save -o "$TAR" "$DOCKER_IMAGE"
docker image inspect "$DOCKER_IMAGE" -f 'id {{.Id}} created {{.Created}} size {{.Size}}
labels {{json .Config.Labels}}
cmd {{json .Config.Cmd}} env {{json .Config.Env}} user "{{.Config.User}}" workdir "{{.Config.WorkingDir}}"' >&2
ls -l "$TAR" >&2
say "import it into gradebox with: $GRADEBOX image import NAME $TAR"
