# Install what building and testing bboauth needs on Debian 12, if missing.
# Sourced by tests/run.sh and examples/demo.sh.
bbo_install_deps() {
    local pkgs="gcc g++ meson ninja-build pkg-config python3 openssl valgrind \
libcurl4-openssl-dev libyajl-dev libmbedtls-dev libcmocka-dev \
abigail-tools scdoc groff-base man-db python3-venv python3-pip python3-setuptools \
libpq-dev postgresql \
libmicrohttpd-dev chromium chromium-driver python3-selenium \
clang libclang-rt-14-dev"
    pkgs="$pkgs git"   # tests/tools: real git over smart HTTP (git-http-backend)
    local missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing >/dev/null
}
