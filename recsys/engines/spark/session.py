"""Starting Spark for the DSGD engine: checks first, then a quiet context on loopback.

Every way Spark can fail to start that a user can fix becomes one :class:`RecsysError` line
naming what to install or check, before anything slow happens:

* pyspark missing or older than 4 (``pip install "recsys[spark]"``);
* no Java, a ``JAVA_HOME`` without ``bin/java``, or a Java older than 17 (Spark 4 runs on Java
  17 or 21);
* a master that is not ``local``, ``local[N]``, ``local[*]``, ``local[N,F]`` or
  ``spark://HOST:PORT``, or a ``spark://`` master that does not accept a connection (checked
  with a short timeout, so a wrong address fails in seconds rather than after Spark's
  minute of registration retries).

Local masters (and a ``spark://`` master on 127.0.0.1 / localhost) keep Spark on loopback:
``spark.driver.host`` and ``spark.driver.bindAddress`` are 127.0.0.1 and ``SPARK_LOCAL_IP`` is
set, since otherwise Spark advertises the machine's network address and its block transfers
go there. The web UI and the console progress bar are off; Spark's log goes to a file in a
private temporary folder (its errors still reach the caller as exceptions), with log4j at
ERROR.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.errors import RecsysError

__all__ = ["SparkStart", "check_pyspark", "check_java", "check_master", "is_loopback_master",
           "local_driver_memory",
           "start_context", "stop_context", "LOOPBACK"]

LOOPBACK = "127.0.0.1"
MASTER_CONNECT_TIMEOUT = 3.0  # seconds to wait for a spark:// master's port

_INSTALL_JAVA = ("install Java 17 (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; "
                 "macOS: brew install openjdk@17) and put it on PATH or set JAVA_HOME")
_LOCAL = re.compile(r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?")
_STANDALONE = re.compile(r"spark://([^:/,\s]+):(\d{1,5})")


def check_pyspark() -> str:
    """pyspark's version; a one-line error when it is missing or older than 4."""
    if importlib.util.find_spec("pyspark") is None:
        raise RecsysError("the spark engine needs pyspark 4: pip install \"recsys[spark]\" "
                          "(or pip install \"pyspark>=4\")")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("pyspark")
    except PackageNotFoundError:
        import pyspark

        found = getattr(pyspark, "__version__", "0")
    major = re.match(r"\d+", found)
    if major is None or int(major.group()) < 4:
        raise RecsysError(f"the spark engine needs pyspark 4, found {found}: "
                          "pip install \"recsys[spark]\" (or pip install -U \"pyspark>=4\")")
    return found


def _java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            raise RecsysError(f"JAVA_HOME={home} has no bin/java: point JAVA_HOME at a Java 17 "
                              f"or 21 installation, or unset it to use the java on PATH "
                              f"({_INSTALL_JAVA})")
        return str(java)
    java = shutil.which("java")
    if java is None:
        raise RecsysError(f"the spark engine needs Java 17 or 21 and found no java: "
                          f"{_INSTALL_JAVA}")
    return java


def check_java() -> int:
    """The major version of the Java that Spark will use (``JAVA_HOME``'s, else the one on
    ``PATH``); a one-line error when there is none or it is older than 17."""
    java = _java_binary()
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecsysError(f"cannot run {java} -version ({exc}): {_INSTALL_JAVA}") from None
    text = done.stderr + done.stdout
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if done.returncode != 0 or found is None:
        first = (text.strip().splitlines() or ["no output"])[0]
        raise RecsysError(f"{java} -version failed ({first}): {_INSTALL_JAVA}")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0" is Java 8
        major = int(found.group(2))
    if major < 17:
        raise RecsysError(f"Spark 4 needs Java 17 or 21, and {java} is Java {major}: "
                          f"{_INSTALL_JAVA}")
    return major


def check_master(master: str) -> str:
    """The master URL, checked: a local form, or ``spark://HOST:PORT`` that accepts a
    connection within :data:`MASTER_CONNECT_TIMEOUT` seconds."""
    master = master.strip()
    if _LOCAL.fullmatch(master):
        return master
    found = _STANDALONE.fullmatch(master)
    if found is None:
        raise RecsysError(f"unsupported Spark master {master!r}: use local[*], local[N] or "
                          "spark://HOST:PORT")
    host, port = found.group(1), int(found.group(2))
    try:
        with socket.create_connection((host, port), timeout=MASTER_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RecsysError(f"cannot reach the Spark master {master} ({reason}): check that it "
                          "is running (sbin/start-master.sh) and the host and port of "
                          "--master") from None
    return master


def is_loopback_master(master: str) -> bool:
    """True for local masters and a ``spark://`` master on this machine's loopback."""
    if _LOCAL.fullmatch(master):
        return True
    found = _STANDALONE.fullmatch(master)
    return found is not None and found.group(1) in ("127.0.0.1", "localhost")


_QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""

_private_dir: Path | None = None


def _log_folder() -> Path:
    """A private folder for Spark's log and settings, removed when Python exits."""
    global _private_dir
    if _private_dir is None:
        _private_dir = Path(tempfile.mkdtemp(prefix="recsys-spark-"))
        atexit.register(shutil.rmtree, _private_dir, True)
        (_private_dir / "log4j2.properties").write_text(_QUIET_LOG4J, encoding="utf-8")
    return _private_dir


@dataclass
class SparkStart:
    """A SparkContext the engine uses, and whether it started it (and so must stop it)."""

    context: Any
    started: bool
    log: Path | None = None


def _log_tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Exception" in ln or "Error" in ln] or lines
    return useful[-1][:300] if useful else ""


def local_driver_memory() -> str:
    """The JVM heap for a local master: a quarter of the machine's memory, 1-8 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: Spark's own default
        return "1g"
    return f"{int(min(max(total / 4, 1 << 30), 8 << 30)) >> 20}m"


def start_context(master: str = "local[*]", app_name: str = "recsys",
                  conf: dict[str, str] | None = None) -> SparkStart:
    """A SparkContext on ``master`` (checked with :func:`check_pyspark`,
    :func:`check_java` and :func:`check_master` first).

    A context already running in this process on the same master is reused (and left
    running); one on another master is an error, since a process holds one context.
    """
    check_pyspark()
    master = check_master(master)
    check_java()
    from pyspark import SparkConf, SparkContext

    active = SparkContext._active_spark_context
    if active is not None:
        if active.master != master:
            raise RecsysError(f"a Spark context on {active.master} is already running in this "
                              f"process; stop it first or use --master {active.master}")
        return SparkStart(active, started=False)
    loopback = is_loopback_master(master)
    if loopback:
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    folder = _log_folder()
    settings = {
        "spark.app.name": app_name,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions":
            f"-Dlog4j2.configurationFile=file:{folder / 'log4j2.properties'}",
        **(conf or {}),
    }
    if loopback:
        settings["spark.driver.host"] = LOOPBACK
        settings["spark.driver.bindAddress"] = LOOPBACK
    if master.startswith("local") and "spark.driver.memory" not in settings:
        # a local master runs every task in the driver's JVM: Spark's 1 GB default runs out
        # at about 10M ratings
        settings["spark.driver.memory"] = local_driver_memory()
    spark_conf = SparkConf().setMaster(master)
    for key, value in settings.items():
        spark_conf.set(key, value)
    log = folder / "spark.log"
    try:
        with _stderr_to(log), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pandas.*", category=FutureWarning)
            context = SparkContext(conf=spark_conf)
            context.setLogLevel("ERROR")
    except RecsysError:
        raise
    except Exception as exc:  # the JVM did not start, or refused the settings
        detail = _log_tail(log) or " ".join(str(exc).split())[:300]
        raise RecsysError(f"Spark did not start on {master} ({detail}): check Java 17/21 and "
                          f"--master") from None
    return SparkStart(context, started=True, log=log)


def stop_context(start: SparkStart | None) -> None:
    """Stop the context if the engine started it."""
    if start is not None and start.started:
        start.context.stop()


class _stderr_to:
    """Point file descriptor 2 at ``path`` while Spark's JVM is launched, so the JVM (and the
    Python workers it starts later) write their log there instead of the terminal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.handle = open(self.path, "ab")
        os.dup2(self.handle.fileno(), 2)

    def __exit__(self, *exc: Any) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.handle.close()
