# Sourced by the image scripts: podman settings this kind of machine needs, in a config file of the project's
# own (CONTAINERS_CONF), so nothing is changed system-wide. The default OCI runtime crun fails on a kernel with
# cgroups in hybrid mode, runc works; podman's default container rlimits (nofile 1048576) are above the hard
# limits such a VM gives a process (20000 here), so containers get explicit ones below them.
_podman_conf_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.local/containers"
mkdir -p "$_podman_conf_dir"
cat > "$_podman_conf_dir/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$_podman_conf_dir/containers.conf"
# The local base image's name carries a digest of the script that makes it: a changed recipe makes a new base.
_base_recipe="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/base.sh"
export OUTREACH_LOCAL_BASE="localhost/outreach-base:bookworm-$(sha256sum "$_base_recipe" | cut -c1-12)"
