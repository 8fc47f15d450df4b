"""MariaDB from Debian: its own datadir under the stack dir, binlog for CDC, `demo.Users`.

Passwords come from StackConfig (environment or the stack's credentials file) and are only
ever passed as bound parameters, never formatted into SQL or logged.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pymysql
import pymysql.cursors

from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services import debian
from pageviews.stack.services.process import Service, ServiceError, wait_until

USERS_DDL = """
CREATE TABLE IF NOT EXISTS Users (
    user_id BIGINT NOT NULL PRIMARY KEY,
    age INT NULL,
    gender VARCHAR(16) NULL,
    country VARCHAR(64) NULL,
    subscription VARCHAR(16) NULL,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
)
"""
# What Debezium needs, and no more: global replication/reload rights, SELECT on one database.
CDC_GLOBAL_GRANTS = "RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT"


def datadir(config: StackConfig) -> Path:
    return config.stack_dir / "mariadb" / "data"


def socket_path(config: StackConfig) -> Path:
    return config.stack_dir / "mariadb" / "mariadb.sock"


def service(config: StackConfig) -> Service:
    return Service("mariadb", config.stack_dir / "run")


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise ServiceError(
            f"{name} not found; install MariaDB: apt-get install -y mariadb-server "
            "(with a policy-rc.d that returns 101, so that no system service starts)"
        )
    return path


def ensure_installed(say: Callable[[str], None]) -> None:
    """Install Debian's mariadb-server if mariadbd is missing (as root, with apt-get)."""
    if shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists():
        return
    if not debian.can_install():
        _binary("mariadbd")  # raises the clear "install MariaDB" error
    debian.install(["mariadb-server"], say)


def prepare(config: StackConfig) -> bool:
    """Initialise the datadir once; True if it was created now."""
    data = datadir(config)
    if (data / "mysql").is_dir():
        return False
    data.mkdir(parents=True, exist_ok=True)
    command = [
        _binary("mariadb-install-db"),
        "--no-defaults",
        f"--datadir={data}",
        "--user=root",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ServiceError(f"mariadb-install-db failed:\n{result.stdout[-2000:]}{result.stderr}")
    return True


def start(config: StackConfig) -> None:
    svc = service(config)
    if svc.process() is not None:
        return
    data = datadir(config)
    command = [
        _binary("mariadbd"),
        "--no-defaults",  # never read the system's /etc/mysql configuration
        f"--datadir={data}",
        "--user=root",
        f"--socket={socket_path(config)}",
        f"--port={config.mariadb_port}",
        f"--bind-address={HOST}",
        f"--pid-file={data.parent / 'mariadbd.pid'}",
        f"--log-error={data.parent / 'error.log'}",
        f"--server-id={config.mariadb_server_id}",
        "--log-bin=mariadb-bin",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--expire-logs-days=7",
        "--default-time-zone=+00:00",  # TIMESTAMP columns read back in UTC
        "--skip-name-resolve",  # users are matched on 127.0.0.1, not on a reverse lookup
        "--innodb-buffer-pool-size=64M",
        "--performance-schema=OFF",
    ]
    svc.start(command, cwd=data.parent)


def connect_root(config: StackConfig, password: str | None) -> pymysql.Connection:
    return pymysql.connect(
        unix_socket=str(socket_path(config)),
        user="root",
        password=config.mariadb_root_password.get_secret_value() if password is None else password,
        autocommit=True,
        connect_timeout=3,
    )


def connect_app(config: StackConfig) -> pymysql.Connection:
    """The application's least-privilege user, over TCP on 127.0.0.1."""
    return pymysql.connect(
        host=HOST,
        port=config.mariadb_port,
        user=config.app_user,
        password=config.app_password.get_secret_value(),
        database=config.mariadb_database,
        autocommit=True,
        connect_timeout=5,
    )


def _root_connection(config: StackConfig) -> pymysql.Connection:
    try:
        return connect_root(config, None)
    except pymysql.err.OperationalError:
        # A fresh datadir: root has no password yet; set ours before anything else.
        conn = connect_root(config, "")
        with conn.cursor() as cur:
            cur.execute(
                "ALTER USER 'root'@'localhost' IDENTIFIED BY %s",
                (config.mariadb_root_password.get_secret_value(),),
            )
        return conn


def wait_healthy(config: StackConfig, timeout_s: float = 60.0) -> None:
    def ping() -> bool:
        if not socket_path(config).exists():
            return False
        _root_connection(config).close()
        return True

    wait_until(ping, service(config), "waiting for MariaDB to accept connections", timeout_s)


def bootstrap(config: StackConfig) -> None:
    """Idempotent: database, table, CDC user and application user with current passwords."""
    db = config.mariadb_database
    conn = _root_connection(config)
    try:
        with conn.cursor() as cur:
            # Identifiers cannot be bound; they come from config and are quoted with backticks.
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            cur.execute(f"USE `{db}`")
            cur.execute(USERS_DDL)
            for user, secret in (
                (config.cdc_user, config.cdc_password),
                (config.app_user, config.app_password),
            ):
                password = secret.get_secret_value()
                cur.execute(
                    "CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s", (user, password)
                )
                cur.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
            cur.execute(f"GRANT {CDC_GLOBAL_GRANTS} ON *.* TO %s@'127.0.0.1'", (config.cdc_user,))
            cur.execute(f"GRANT SELECT ON `{db}`.* TO %s@'127.0.0.1'", (config.cdc_user,))
            cur.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.`Users` TO %s@'127.0.0.1'",
                (config.app_user,),
            )
    finally:
        conn.close()
