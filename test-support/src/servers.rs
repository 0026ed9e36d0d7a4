//! Private PostgreSQL and Redis servers for fault-injection tests: each test starts its own, so
//! stopping, killing and restarting it disturbs no other test (nor the shared servers of
//! `DATABASE_URL` and `REDIS_URL`).
//!
//! The binaries are found the way `.ci/pg.sh` and `.ci/redis.sh` find them: `PG_BIN` (which
//! `.ci/pg.sh` exports) or else the newest `/usr/lib/postgresql/*/bin` holding `initdb`, and
//! `redis-server` on `PATH`. Missing binaries skip the test with a notice, except on CI (`CI`
//! set), where `.ci/run` installs them and their absence is a failure, as with [`server_var`].
//!
//! Every server lives in a fresh directory under `/tmp` (short on purpose: PostgreSQL's socket
//! path must stay under ~107 bytes), listens on 127.0.0.1 only, and is killed and its directory
//! removed on drop, including when the test panicked or timed out.
//!
//! [`server_var`]: crate::server_var

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to start or stop before the test fails (never hangs).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `None` with a notice outside CI; a panic on CI, where `.ci/run` installs every server.
fn missing<T>(test: &str, what: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {what}: {test} must run on CI (.ci/run installs it)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "notice: {test} skipped: {what} (.ci/run installs it)"
    );
    None
}

/// A fresh, empty directory `/tmp/<prefix>.<pid>.<n>`.
fn fresh_dir(prefix: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(format!(
        "/tmp/{prefix}.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // Left over by an earlier process with the same pid that was killed.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// A port that was free a moment ago. Only a hint (someone may bind it before the server
/// does): the callers retry on "address in use".
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port on 127.0.0.1")
        .port()
}

/// Starts `server` on a free port with `try_start` (its log on failure). A port can be taken
/// between the probe and the bind: a few are tried.
///
/// # Panics
/// When `what` fails for another reason (with its log), or finds no free port.
fn start_on_free_port<S>(
    what: &str,
    server: &mut S,
    mut try_start: impl FnMut(&mut S, u16) -> Result<(), String>,
) {
    for _ in 0..5 {
        match try_start(server, free_port()) {
            Ok(()) => return,
            Err(log) if log.contains("already in use") => continue,
            Err(log) => panic!("{what} did not start:\n{log}"),
        }
    }
    panic!("{what} found no free port in 5 tries");
}

/// The last `lines` lines of `path`, for a failure message.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends `signal` (`TERM`, `KILL`) to `pid` with kill(1): std only sends SIGKILL, and a
/// graceful stop needs SIGTERM.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Is `pid` alive (signal 0)?
fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// How a [`PgServer`] is stopped (`pg_ctl stop -m <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgStop {
    /// Sessions are terminated, open transactions rolled back, then a checkpoint: a clean
    /// shutdown as an orchestrator's rolling restart does it.
    Fast,
    /// The postmaster and every backend quit at once, without a checkpoint: a crash, recovered
    /// from the WAL at the next start.
    Immediate,
}

/// A private PostgreSQL cluster: `initdb` in a fresh directory, on 127.0.0.1 and a free port,
/// that [`stop`](Self::stop) and [`start`](Self::start) restart on the same data directory and
/// port. Dropped: stopped (immediately; killed if need be) and its directory removed.
///
/// Connections over TCP are trusted (no password): the cluster is the test's own, reachable
/// only from this machine, and gone when the test ends.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    /// The OS user the server runs as: `postgres` when we are root (initdb and postgres refuse
    /// root), `None` to run as ourselves.
    os_user: Option<String>,
    running: bool,
}

impl PgServer {
    /// A new cluster, started, or `None` with a notice (a panic on CI) when no PostgreSQL
    /// server is installed.
    pub fn new(test: &str) -> Option<PgServer> {
        let Some(bin) = pg_bin() else {
            return missing(test, "no PostgreSQL server (initdb) is installed");
        };
        let root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        let os_user = root.then(|| "postgres".to_owned());
        let dir = fresh_dir("tenant-pg");
        let mut server = PgServer {
            data: dir.join("data"),
            bin,
            dir,
            port: 0,
            os_user,
            running: false,
        };
        if let Some(user) = &server.os_user {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id").args([flag, user]).output().ok();
                let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
                text.and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("no OS user {user} to run PostgreSQL as"))
            };
            std::os::unix::fs::chown(&server.dir, Some(id("-u")), Some(id("-g")))
                .expect("chown the cluster directory");
        }
        // --no-sync and fsync = off: a process crash (what the tests inject) loses nothing
        // that reached the OS, and only an OS crash would need the flushes.
        server.run(
            "initdb",
            &[
                "-D",
                "data",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=trust",
                "--no-sync",
            ],
        );
        // synchronous_commit stays on (unlike .ci/pg.sh): with it off, a commit is acknowledged
        // before its WAL is written, and an immediate stop would lose acknowledged commits,
        // which is exactly what the fault tests check never happens.
        let conf = format!(
            "listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             fsync = off\n\
             synchronous_commit = on\n\
             full_page_writes = off\n\
             max_connections = 50\n",
            server.dir.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(server.data.join("postgresql.conf"))
            .and_then(|mut file| file.write_all(conf.as_bytes()))
            .expect("append to postgresql.conf");
        start_on_free_port("PostgreSQL", &mut server, |server, port| {
            server.port = port;
            server.try_start()
        });
        Some(server)
    }

    /// The superuser's URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server (`pg_ctl stop -m <mode>`, waiting at most 30 s). Stopping a stopped
    /// server does nothing.
    pub fn stop(&mut self, mode: PgStop) {
        if !self.running {
            return;
        }
        let mode = match mode {
            PgStop::Fast => "fast",
            PgStop::Immediate => "immediate",
        };
        self.run(
            "pg_ctl",
            &["-D", "data", "-m", mode, "-w", "-t", "30", "stop"],
        );
        self.running = false;
    }

    /// Starts the stopped server again, on the same data directory and port (waiting at most
    /// 30 s for it, crash recovery included). Starting a running server does nothing.
    pub fn start(&mut self) {
        if self.running {
            return;
        }
        if let Err(log) = self.try_start() {
            panic!("PostgreSQL did not restart on port {}:\n{log}", self.port);
        }
    }

    /// One `pg_ctl start` on `self.port`; `Err` with the log of this attempt.
    fn try_start(&mut self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let before = std::fs::metadata(&log).map_or(0, |meta| meta.len());
        let port = format!("-p {}", self.port);
        let status = self
            .command("pg_ctl")
            .args(["-D", "data", "-l", "server.log", "-o", &port])
            .args(["-w", "-t", "30", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run pg_ctl");
        if status.success() {
            self.running = true;
            return Ok(());
        }
        // A postmaster that came up after the deadline must not linger.
        let _ = self
            .command("pg_ctl")
            .args(["-D", "data", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let text = std::fs::read(&log).unwrap_or_default();
        let start = usize::try_from(before).unwrap_or(0).min(text.len());
        Err(String::from_utf8_lossy(&text[start..]).into_owned())
    }

    /// `program` of the server's bin directory, run in the cluster directory (the caller's
    /// working directory may be unreadable to the server's user), as that user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match &self.os_user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        };
        command.current_dir(&self.dir);
        command
    }

    /// Runs `program` to completion; panics with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.dir.join("server.log"), 20)
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let pid_file = self.data.join("postmaster.pid");
        if pid_file.exists() {
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
            let _ = self
                .command("pg_ctl")
                .args(["-D", "data", "-m", "immediate", "-w", "-t", "10", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            // Last resort, so no server outlives its deleted directory.
            if let Some(pid) = pid.filter(|&pid| alive(pid)) {
                signal(pid, "KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `PG_BIN` if it holds `initdb`, else the newest `/usr/lib/postgresql/<version>/bin` that does
/// (`postgresql-client` alone creates the directory with psql only).
fn pg_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN").filter(|bin| !bin.is_empty()) {
        let bin = PathBuf::from(bin);
        return bin.join("initdb").is_file().then_some(bin);
    }
    let version = |name: &str| -> Vec<u32> {
        name.split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect()
    };
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("bin/initdb").is_file())
        .max_by_key(|entry| version(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path().join("bin"))
}

/// A private Redis server with the append-only file on (`--appendonly yes --appendfsync
/// always`), in a fresh directory, on 127.0.0.1 and a free port, that can be
/// [`stop`](Self::stop)ped (SIGTERM), [`kill`](Self::kill)ed (SIGKILL) and
/// [`start`](Self::start)ed again on the same directory and port. Dropped: killed and its
/// directory removed.
///
/// `appendfsync always` rather than `everysec`: the fault tests assert that every write Redis
/// acknowledged survives a restart, SIGKILL included. With `everysec`, Redis may postpone the
/// `write(2)` of the AOF buffer for up to two seconds while a background fsync is slow and
/// answer clients meanwhile, so an acknowledged `XADD` could be lost with the process. With
/// `always` the write and the fsync happen before the reply; the cost (one fsync per write
/// batch) does not matter at a test's rate.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A new server, started, or `None` with a notice (a panic on CI) when `redis-server` is not
    /// on `PATH`.
    pub fn new(test: &str) -> Option<RedisServer> {
        let Some(bin) = on_path("redis-server") else {
            return missing(test, "no redis-server on PATH");
        };
        let mut server = RedisServer {
            bin,
            dir: fresh_dir("tenant-redis"),
            port: 0,
            child: None,
        };
        start_on_free_port("redis-server", &mut server, |server, port| {
            server.port = port;
            server.try_start()
        });
        Some(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The TCP port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// A graceful stop: SIGTERM, on which Redis flushes the append-only file and exits; SIGKILL
    /// if it has not exited after 30 s. Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        if let Some(child) = &self.child {
            signal(child.id(), "TERM");
        }
        self.reap(READY_TIMEOUT);
    }

    /// A crash: SIGKILL. Only what reached the append-only file survives (with `appendfsync
    /// always`, every acknowledged write). Killing a stopped server does nothing.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
        self.reap(READY_TIMEOUT);
    }

    /// Starts the stopped server again on the same directory and port, and waits (at most 30
    /// s) until it answers PING, the append-only file loaded. Starting a running server does
    /// nothing.
    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        if let Err(log) = self.try_start() {
            panic!("redis-server did not restart on port {}:\n{log}", self.port);
        }
    }

    /// Waits for the child to exit, killing it after `within`.
    fn reap(&mut self, within: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// One start on `self.port`; `Err` with the log of this attempt.
    fn try_start(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let _ = std::fs::remove_file(&log);
        let port = self.port.to_string();
        let child = Command::new(&self.bin)
            .args(["--bind", "127.0.0.1", "--port", &port])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            // The append-only file is the persistence under test; no RDB snapshots besides.
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // After losing the bind, a PONG on this port comes from whoever won it: trust it
            // only once our own log says this server is ready.
            let ready = std::fs::read_to_string(&log)
                .is_ok_and(|text| text.contains("Ready to accept connections"));
            if ready && self.pong() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                self.kill();
                return Err(tail(&log, 20));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Does the server answer PING (not `-LOADING` while it reads the append-only file)?
    fn pong(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first `name` on `PATH` that is a file.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
