#!/usr/bin/env bash
# Install bboauth into a staging directory, then build a separate program
# against it the ways docs/packaging.md tells users to, and run it:
#   shared library through pkg-config; libbboauth.a with shared dependencies;
#   libbboauth.a + yajl + mbedcrypto static with a shared libcurl (Debian 12);
#   fully static where the system has every static library.
# Prints TAP. BBO_DEFAULT_LIBRARY (shared, static, both) says what was built.
#   bash install_check.sh BUILD_ROOT
set -uo pipefail
build_root=$1
kind=${BBO_DEFAULT_LIBRARY:-both}
source_dir=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$tap_out"' EXIT
. "$(dirname "$0")/tap.sh"

if ! meson install -C "$build_root" --destdir "$stage/root" --no-rebuild --quiet >"$tap_out" 2>&1; then
    note <"$tap_out"
    echo "1..1"; echo "not ok 1 - meson install"; exit 1
fi
pc=$(find "$stage/root" -name bboauth.pc | head -n 1)
if [ -z "$pc" ]; then echo "1..1"; echo "not ok 1 - bboauth.pc installed"; exit 1; fi
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage/root
prefix_libdir=$(dirname "$(dirname "$pc")")
cflags=$(pkg-config --cflags bboauth)
ok "bboauth.pc $(pkg-config --modversion bboauth) installed"
grep -E '^(Requires.private|Libs.private):' "$pc" | note

# What a static link needs beyond libbboauth.a: the .pc must say it, in
# Requires.private/Libs.private (public when only libbboauth.a is built).
requires_private=$(sed -n 's/^Requires\(.private\)\?: //p' "$pc" | tr '\n' ' ')
libs_private=$(sed -n 's/^Libs\(.private\)\?: //p' "$pc" | tr '\n' ' ' |
               sed 's/-L[^ ]*//g; s/-lbboauth\b//g')
pc_complete() {
    local want
    for want in libcurl yajl; do
        grep -qw "$want" <<<"$requires_private" || { echo "Requires.private lacks $want"; return 1; }
    done
    # Debian 12's mbedTLS 2.28 has no .pc: then -lmbedcrypto is in Libs.private
    if ! pkg-config --exists mbedcrypto; then
        grep -qw -- -lmbedcrypto <<<"$libs_private" || { echo "Libs.private lacks -lmbedcrypto"; return 1; }
    else
        grep -qw mbedcrypto <<<"$requires_private" || { echo "Requires.private lacks mbedcrypto"; return 1; }
    fi
    grep -qE -- '-pthread|-lpthread' <<<"$libs_private" || { echo "Libs.private lacks -pthread"; return 1; }
}
check ".pc lists what a static link needs (libcurl, yajl, mbedcrypto, threads)" pc_complete

so=$(find "$stage/root" -name 'libbboauth.so.0' | head -n 1)
archive=$(find "$stage/root" -name 'libbboauth.a' | head -n 1)

if [ "$kind" != static ]; then
    if [ -z "$so" ]; then
        not_ok "libbboauth.so.0 installed"
    else
        libdir=$(dirname "$so")
        check "shared: built with pkg-config --cflags --libs bboauth and run" \
            bash -c "cc -std=c99 -Wall -Werror -o '$stage/consumer' '$source_dir/consumer.c' \
                $cflags \$(pkg-config --libs bboauth) && LD_LIBRARY_PATH='$libdir' '$stage/consumer'"
        # only bbo_ symbols are exported
        only_bbo() {
            if nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | grep -v '^bbo_'; then
                echo "symbols without the bbo_ prefix are exported"; return 1
            fi
        }
        check "the shared library exports only bbo_ symbols" only_bbo
    fi
fi

if [ "$kind" != shared ]; then
    if [ -z "$archive" ]; then
        not_ok "libbboauth.a installed"
    else
        # 1. the archive, every dependency shared (any Linux distribution)
        check "static archive, shared dependencies (docs/packaging.md recipe 1)" \
            bash -c "cc -std=c99 -Wall -Werror -o '$stage/consumer-a' '$source_dir/consumer.c' \
                $cflags '$archive' \$(pkg-config --libs libcurl yajl) $libs_private && \
                '$stage/consumer-a' && ! ldd '$stage/consumer-a' | grep -q libbboauth"
        # 2. bboauth, yajl and mbedcrypto static, libcurl shared (Debian 12
        #    names yajl's archive libyajl_s.a)
        yajl_libdir=$(PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=libdir yajl)
        yajl_a=$yajl_libdir/libyajl_s.a
        [ -f "$yajl_a" ] || yajl_a=$yajl_libdir/libyajl.a
        if [ -f "$yajl_a" ]; then
            check "bboauth, yajl and mbedcrypto static, libcurl shared (recipe 2)" \
                bash -c "cc -std=c99 -Wall -Werror -o '$stage/consumer-b' '$source_dir/consumer.c' \
                    $cflags '$archive' '$yajl_a' -Wl,-Bstatic -lmbedcrypto -Wl,-Bdynamic \
                    \$(pkg-config --libs libcurl) -pthread && '$stage/consumer-b' && \
                    ! ldd '$stage/consumer-b' | grep -Eq 'libbboauth|libyajl|libmbedcrypto'"
        else
            echo "# no static yajl archive on this system: recipe 2 not tried"
        fi
        # 3. fully static: needs every static library libcurl was built with.
        #    Where one is missing (Debian 12: libgssapi_krb5, libldap, librtmp,
        #    ...) the link must fail for that reason and no other.
        full_static() {
            local libs
            libs=$(pkg-config --static --libs bboauth | sed 's/-lyajl\b/-lyajl_s/')
            if cc -static -std=c99 -Wall -Werror -o "$stage/consumer-static" \
                    "$source_dir/consumer.c" $cflags -L"$(dirname "$archive")" $libs \
                    >"$stage/static.log" 2>&1; then
                file "$stage/consumer-static" | grep -q 'statically linked' &&
                    "$stage/consumer-static"
            else
                local missing
                missing=$(grep -oE 'cannot find -l[A-Za-z0-9_+.-]+' "$stage/static.log" |
                          sed 's/cannot find //' | sort -u | tr '\n' ' ')
                if [ -n "$missing" ]; then
                    echo "fully static link not possible on this system: no static $missing"
                    return 0
                fi
                cat "$stage/static.log"; return 1
            fi
        }
        check "fully static where every static library exists (recipe 3)" full_static
    fi
fi

echo "installed headers: $(find "$stage/root" -name '*.h' | wc -l)" | note
tap_end
