#!/usr/bin/python3
"""Run a command against a throwaway PostgreSQL cluster.

    with_pg.py -- CMD [ARGS...]

Makes a cluster in a temporary directory (initdb, trust authentication,
superuser `bbo`), starts it listening on a Unix socket in that directory
only (no TCP), runs CMD with the variables below, stops the cluster,
removes the directory and exits with CMD's status (128 + N if CMD was
killed by signal N). PostgreSQL refuses to run as root: as root, the
server runs as the `postgres` user (Debian's package makes it), else
`nobody`; the tests themselves connect through the socket as anyone.

    BBO_PG_CONNINFO  a libpq connection string for the cluster
    BBO_PG_CTL       a script running pg_ctl on the cluster as its owner
                     ("$BBO_PG_CTL restart", "$BBO_PG_CTL stop")
    BBO_PG_BINDIR    the server's programs (pg_dump, psql, ...)

Debian's `postgresql` package provides the server (tests/deps.sh installs
it); BBO_PG_BINDIR in the environment picks another installation.
"""

import glob
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

PORT = 5432  # the socket's name only: nothing listens on TCP
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def find_bindir():
    given = os.environ.get("BBO_PG_BINDIR")
    if given:
        return given
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    return None


def server_user():
    """The user to run the server as, or None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise SystemExit("with_pg.py: running as root and there is no postgres or nobody user")


def as_owner(user, argv):
    if user is None:
        return argv
    return ["runuser", "-u", user.pw_name, "--"] + argv


def main(argv):
    if "--" not in argv or argv.index("--") + 1 >= len(argv):
        print("usage: with_pg.py -- CMD [ARGS...]", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    bindir = find_bindir()
    if bindir is None:
        print("with_pg.py: no PostgreSQL server found (Debian: apt-get install postgresql)",
              file=sys.stderr)
        return 1
    user = server_user()
    received = []
    child = []

    def forward(signum, _frame):
        received.append(signum)
        if child:
            child[0].send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)

    top = tempfile.mkdtemp(prefix="bbo-pg-")
    data = os.path.join(top, "data")
    log = os.path.join(top, "server.log")
    ctl = os.path.join(top, "pgctl")
    started = False
    try:
        os.chmod(top, 0o700)
        if user is not None:
            os.chown(top, user.pw_uid, user.pw_gid)
        options = (f"-c listen_addresses='' -c unix_socket_directories='{top}' -p {PORT} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=16MB")
        with open(ctl, "w") as f:
            argv_ctl = as_owner(user, [os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log,
                                       "-w", "-t", "120", "-o", options])
            f.write("#!/bin/sh\n# pg_ctl on the test cluster, as its owner\nexec "
                    + " ".join(shlex.quote(a) for a in argv_ctl) + ' "$@" >/dev/null\n')
        os.chmod(ctl, 0o755)
        subprocess.run(as_owner(user, [os.path.join(bindir, "initdb"), "-D", data, "-U", "bbo",
                                       "--auth=trust", "--no-sync", "-E", "UTF8",
                                       "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        subprocess.run([ctl, "start"], check=True, stdin=subprocess.DEVNULL)
        started = True
        if received:
            return 128 + received[0]
        env = dict(os.environ,
                   BBO_PG_CONNINFO=f"host={top} port={PORT} user=bbo dbname=postgres",
                   BBO_PG_CTL=ctl, BBO_PG_BINDIR=bindir)
        try:
            child.append(subprocess.Popen(command, env=env))
        except OSError as e:
            print(f"with_pg.py: cannot run {command[0]}: {e}", file=sys.stderr)
            return 127
        status = child[0].wait()
        return status if status >= 0 else 128 - status
    except subprocess.CalledProcessError as e:
        print(f"with_pg.py: {e}", file=sys.stderr)
        if os.path.exists(log):
            with open(log) as f:
                sys.stderr.write(f.read()[-4000:])
        return 1
    finally:
        if started:
            subprocess.run([ctl, "stop", "-m", "immediate"], stdin=subprocess.DEVNULL)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
