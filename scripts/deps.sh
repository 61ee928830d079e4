# Sourced by scripts/test and scripts/bench: installs what a fresh Debian 12 machine
# lacks, as root, with one `apt-get update` and only when something is missing, so a
# machine that has everything stays offline-fast.
wf_install_deps() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

WF_BUILD_DEPS=(meson ninja-build gcc g++ clang pkg-config cmake liburcu-dev libck-dev libbenchmark-dev)
