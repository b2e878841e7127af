"""A local standalone Spark cluster from the installed pyspark: a master, one worker and a Spark
Thrift Server running its SQL on them (`make spark-up` / `make spark-down`, and the Spark tests).

    python tests/spark_cluster.py start DIR [THRIFT_PORT]   # returns once the server answers
    python tests/spark_cluster.py stop DIR

DIR keeps the metastore (embedded Derby: only the Thrift Server opens it), the tables' files, the
logs and the processes' ids. Every port is bound to 127.0.0.1.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MASTER_PORT = int(os.environ.get("SPARK_MASTER_PORT", "7077"))
# Cores and memory of the one worker, and of the Thrift Server's executor on it.
WORKER_CORES = os.environ.get("SPARK_WORKER_CORES", "2")
WORKER_MEMORY = os.environ.get("SPARK_WORKER_MEMORY", "3g")
EXECUTOR_MEMORY = os.environ.get("SPARK_EXECUTOR_MEMORY", "2g")
DRIVER_MEMORY = os.environ.get("SPARK_DRIVER_MEMORY", "2g")
READY_SECONDS = 180  # the Thrift Server took ~34 s to answer on a quiet 2-core machine
PROCESSES = ("master", "worker", "thrift")


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise SystemExit("pyspark is not installed: make spark-up installs it (.[spark])") from None
    return Path(pyspark.__file__).parent


def _env(root: Path) -> dict[str, str]:
    return os.environ | {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_WORKER_DIR": str(root / "work"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(root / "tmp"),
        # The worker's executors inherit it: no stray "Python worker" lookups of another Python.
        "PYSPARK_PYTHON": sys.executable,
    }


def _spawn(root: Path, name: str, args: list[str]) -> None:
    log = (root / "logs" / f"{name}.log").open("ab")
    process = subprocess.Popen(
        args,
        cwd=root,  # derby.log and any relative path land here
        env=_env(root),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # `make spark-up` returns; the cluster stays up
    )
    (root / f"{name}.pid").write_text(str(process.pid))


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for(root: Path, name: str, port: int, deadline: float) -> None:
    while not _answers(port):
        pid = int((root / f"{name}.pid").read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise SystemExit(
                f"spark {name} exited before listening on {port}: see {root}/logs/{name}.log"
            ) from None
        if time.monotonic() > deadline:
            raise SystemExit(f"spark {name} not listening on {port}: see {root}/logs/{name}.log")
        time.sleep(0.5)


# pyspark ships Hive's jars without hive-llap-common, yet Hive's FunctionRegistry references one
# of its interfaces: the first Thrift session whose close initializes that registry fails with
# NoClassDefFoundError LlapSigner$Signable (it failed dbt's first build once in a clean CI run;
# Class.forName of the registry reproduces it every time). The interface, empty of meaning, is
# all the registry needs: compiled here and put on the Thrift Server's class path.
LLAP_SIGNER = """package org.apache.hadoop.hive.llap.security;
public interface LlapSigner {
  interface Signable {
    void setSignInfo(int masterKeyId);
    byte[] serialize() throws java.io.IOException;
  }
}
"""


def _llap_signer_classes(root: Path) -> Path:
    classes = root / "llap-signer"
    if not (classes / "org/apache/hadoop/hive/llap/security/LlapSigner$Signable.class").exists():
        source = root / "tmp" / "LlapSigner.java"
        source.write_text(LLAP_SIGNER)
        subprocess.run(["javac", "-d", str(classes), str(source)], check=True)
    return classes


def start(root: Path, thrift_port: int = 10000) -> str:
    """Start the cluster in `root` unless it runs; returns the Thrift Server's host:port."""
    root = root.resolve()
    for folder in ("logs", "work", "tmp", "warehouse"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{thrift_port}"
    if _answers(thrift_port):
        return address
    home = spark_home()
    spark_class = str(home / "bin" / "spark-class")
    master = f"spark://127.0.0.1:{MASTER_PORT}"
    deadline = time.monotonic() + READY_SECONDS
    _spawn(
        root,
        "master",
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        + ["--port", str(MASTER_PORT), "--webui-port", os.environ.get("SPARK_MASTER_UI", "8080")],
    )
    _wait_for(root, "master", MASTER_PORT, deadline)
    _spawn(
        root,
        "worker",
        [spark_class, "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1"]
        + ["--cores", WORKER_CORES, "--memory", WORKER_MEMORY]
        + ["--webui-port", os.environ.get("SPARK_WORKER_UI", "8081")],
    )
    metastore = f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
    conf = {
        "spark.master": master,
        "spark.executor.memory": EXECUTOR_MEMORY,
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": metastore,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.port": os.environ.get("SPARK_DRIVER_UI", "4040"),
        # Small data on two cores: Spark's default of 200 shuffle partitions is 200 tasks a join.
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        # Defaults a user's server may well have (its host's zone; Spark 3's non-ANSI mode), not
        # the ones crm-kpi wants: every session of dbt and of the pipeline must set its own.
        "spark.sql.session.timeZone": "America/New_York",
        "spark.sql.ansi.enabled": "false",
    }
    _spawn(
        root,
        "thrift",
        [str(home / "bin" / "spark-submit"), "--driver-class-path", str(_llap_signer_classes(root))]
        + ["--class"]
        + ["org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"]
        + [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]
        + ["--hiveconf", f"hive.server2.thrift.port={thrift_port}"]
        + ["--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1", "spark-internal"],
    )
    _wait_for(root, "thrift", thrift_port, deadline)
    return address


def stop(root: Path) -> None:
    """Stop what `start` started in `root` (the Thrift Server first, the master last)."""
    for name in reversed(PROCESSES):
        pid_file = root / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink()


if __name__ == "__main__":
    command, directory, *rest = sys.argv[1:]
    if command == "start":
        print(start(Path(directory), int(rest[0]) if rest else 10000))
    elif command == "stop":
        stop(Path(directory))
    else:
        raise SystemExit(f"unknown command {command!r}: start or stop")
