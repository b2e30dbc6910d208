//! payscan as a separate process, for the tests that kill it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{leaks, TestApp, TestEnv};
/// payscan as a separate process (`payscan serve`), for tests that kill it.
pub struct Daemon {
    child: std::process::Child,
    /// Every line the daemon printed so far.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    /// Secrets found in its stdout and stderr: the test fails when the daemon is dropped.
    leaks: leaks::Scanned,
}

impl Daemon {
    /// Starts `payscan serve` with `env` and waits until its API answers. Returns the daemon and a
    /// client for it.
    pub async fn start(env: Arc<TestEnv>) -> (Self, TestApp) {
        Self::start_with(env, &[]).await
    }

    /// [`Daemon::start`] with more settings for this run only (e.g. `PAYSCAN_FAILPOINTS`).
    pub async fn start_with(env: Arc<TestEnv>, extra: &[(&str, String)]) -> (Self, TestApp) {
        use std::io::BufRead;
        let mut vars = env.env.clone();
        vars.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        // Port 0: the daemon picks a free port and says which, so no other test can take it first.
        vars.insert("PAYSCAN_LISTEN".to_owned(), "127.0.0.1:0".to_owned());
        // Everything it can print is printed, and scanned for secrets.
        vars.entry("RUST_LOG".to_owned()).or_insert_with(|| "trace".to_owned());
        vars.insert("NO_COLOR".to_owned(), "1".to_owned());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_payscan"))
            .arg("serve")
            .env_clear()
            .envs(&vars)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start payscan serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (found, address) = std::sync::mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let secrets = leaks::Secrets::suite()
            .with("this test's webhook secret", env.webhook_secret.trim_start_matches("whsec_"))
            .with("this test's JWT secret", &env.jwt_secret);
        let leaks = leaks::Scanned::new(secrets);
        let kept = log.clone();
        let scanned = leaks.sender();
        // Reads the log until the listening line, then keeps draining so the daemon never blocks.
        let out = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=").nth(1).filter(|_| line.contains("payscan listening")) {
                    let _ = found.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                scanned.as_ref().map(|s| s.send(line.clone()));
                kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
            }
        });
        let kept = log.clone();
        let scanned = leaks.sender();
        let err = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                scanned.as_ref().map(|s| s.send(line.clone()));
                kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
            }
        });
        leaks.readers(out, err);
        let mut daemon = Self { child, log, leaks };
        let address = match address.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => address,
            // Ended before it listened (a failpoint on a start-up step): a client of nothing. Its
            // output closes as it exits, a moment before the exit can be collected.
            Err(_) if daemon.exits_within(Duration::from_secs(10)) => "127.0.0.1:1".to_owned(),
            Err(e) => panic!("payscan serve did not say where it listens: {e}"),
        };
        let client = TestApp::client(format!("http://{address}"), None, env);
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.http.get(format!("{}/api/payment/health", client.url)).send().await.is_err() {
            // A failpoint may end it this early; the caller sees that in `exited`.
            if daemon.exited() {
                break;
            }
            assert!(Instant::now() < deadline, "payscan serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (daemon, client)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended (a failpoint aborted it).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Whether it has exited or does within `wait`.
    fn exits_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.exited() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.leaks.check();
    }
}
