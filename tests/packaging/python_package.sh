#!/usr/bin/env bash
# The Python binding as a package: pip-install examples/python into a fresh
# virtual environment (offline: system setuptools, no index), then, with the
# library found by the loader (LD_LIBRARY_PATH, no BBOAUTH_LIBRARY) and the
# package imported from the venv (not the source tree), check its metadata
# and annotations and run tests/integration/test_python_ffi.py (a login
# through the loopback and the fake browser, sessions, errors) against the
# mock. Prints TAP.
#   bash python_package.sh SOURCE_ROOT LIBBBOAUTH_SO VERSION
set -uo pipefail
root=$(cd "$1" && pwd)
libdir=$(cd "$(dirname "$2")" && pwd)
version=$3
work=$(mktemp -d)
trap 'rm -rf "$work" "$tap_out"' EXIT
. "$(dirname "$0")/tap.sh"

# a copy: setuptools writes build/ and *.egg-info next to pyproject.toml
cp -r "$root/examples/python" "$work/src"
rm -rf "$work/src/build" "$work/src"/*.egg-info
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
venv=$work/venv
py=$venv/bin/python
check "a virtual environment (/usr/bin/python3 -m venv --system-site-packages)" \
    /usr/bin/python3 -m venv --system-site-packages "$venv"
check "pip install --no-index --no-build-isolation examples/python" \
    "$py" -m pip install --no-index --no-build-isolation --disable-pip-version-check \
    --no-cache-dir --quiet "$work/src"

unset BBOAUTH_LIBRARY PYTHONPATH
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONDONTWRITEBYTECODE=1
cd "$work"   # nothing named bboauth here

check "installed package: from the venv, version $version, py.typed, libbboauth.so.0 by the loader" \
    "$py" - "$venv" "$version" "$libdir" <<'EOF'
import importlib.metadata, os, sys
venv, version, libdir = sys.argv[1:]
import bboauth
where = os.path.realpath(bboauth.__file__)
print("bboauth imported from", where)
assert where.startswith(os.path.realpath(venv)), "not the installed copy"
dist = importlib.metadata.version("bboauth")
assert dist == version, f"package version {dist}, library {version}"
assert os.path.exists(os.path.join(os.path.dirname(where), "py.typed")), "no py.typed"
assert bboauth.version() == version, f"loaded library {bboauth.version()}"
maps = open("/proc/self/maps").read()
assert os.path.join(os.path.realpath(libdir), "libbboauth.so.0") in maps or \
    os.path.realpath(os.path.join(libdir, "libbboauth.so.0")) in maps, "another libbboauth"
print("library", bboauth.version(), "from", libdir)
EOF

check "every public function and method is annotated (typing.get_type_hints)" \
    "$py" - <<'EOF'
import inspect, typing
import bboauth
missing, n = [], 0
def visit(name, fn):
    global n
    fn = inspect.unwrap(fn)
    if not inspect.isfunction(fn):
        return
    n += 1
    hints = typing.get_type_hints(fn)   # also: every annotation resolves
    sig = inspect.signature(fn)
    for p in sig.parameters.values():
        if p.name not in ("self", "cls") and p.name not in hints:
            missing.append(f"{name}({p.name})")
    if "return" not in hints:
        missing.append(f"{name} -> ?")
for name in bboauth.__all__:
    obj = getattr(bboauth, name)
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(member, property):
                visit(f"{name}.{attr}", member.fget)
            elif isinstance(member, (classmethod, staticmethod)):
                visit(f"{name}.{attr}", member.__func__)
            else:
                visit(f"{name}.{attr}", member)
    else:
        visit(name, obj)
print(n, "functions, methods and properties checked")
assert not missing, "not annotated: " + ", ".join(missing)
EOF

check "test_python_ffi.py (a login and more against the mock) with the installed package" \
    "$py" "$root/tests/mock/with_mock.py" -- "$py" "$root/tests/integration/test_python_ffi.py"
grep -cE '^ok ' "$tap_out" | sed 's/^/subtests passed: /' | note

tap_end
