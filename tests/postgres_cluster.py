"""A throwaway Postgres cluster for the tests and benchmarks: the machine image's server, in a
scratch directory, on a spare port, gone afterwards.

Postgres refuses to run as root, so as root the server runs as the `postgres` user. Without
fsync it starts in about a second; nothing here needs to survive a power cut.

    python -m tests.postgres_cluster start DIR PORT   # prints the URL
    python -m tests.postgres_cluster stop DIR
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SUPERUSER = "postgres"
PASSWORD = "pg-secret-7Hq%9:x@"  # special characters on purpose: the URL must percent-encode them


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"Postgres's {name} is not installed (apt-get install postgresql)")
    return found


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", SUPERUSER, "--", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(directory: Path, port: int) -> str:
    """Create and start a cluster in `directory`; return its superuser's URL."""
    from urllib.parse import quote

    directory.mkdir(parents=True, exist_ok=True)
    data, sockets = directory / "data", directory / "sockets"
    sockets.mkdir(exist_ok=True)
    password_file = directory / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(directory, SUPERUSER)
        shutil.chown(sockets, SUPERUSER)
        shutil.chown(password_file, SUPERUSER)
    if not data.exists():
        subprocess.run(
            _as_server_user(
                [
                    _bin("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "scram-sha-256",
                    f"--pwfile={password_file}",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    subprocess.run(
        _as_server_user(
            [
                _bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return f"postgresql://{SUPERUSER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/postgres"


def stop(directory: Path) -> None:
    subprocess.run(
        _as_server_user([_bin("pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "stop"]),
        capture_output=True,
    )


if __name__ == "__main__":
    command, where = sys.argv[1], Path(sys.argv[2]).resolve()
    if command == "start":
        print(start(where, int(sys.argv[3]) if len(sys.argv) > 3 else free_port()))
    else:
        stop(where)
