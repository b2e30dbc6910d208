//! Secret scanning of everything payscan prints in the suite. Every spawned `payscan serve` logs at
//! `RUST_LOG=trace` and its stdout and stderr are scanned line by line; in-process apps log
//! through a capture layer (at `PAYSCAN_TEST_CAPTURE_LOG`, default `trace`) scanned the same way.
//! A hit is: the test mnemonics' words in sequence, the private key of any test account or of a
//! destination derived in tests, `whsec_` or a webhook secret's key, a JWT secret, an extended
//! private key, or an RPC URL's key marker. A daemon's hits fail the test when the `Daemon` is
//! dropped; an in-process hit fails the tests whose `TestEnv` was alive when it was printed (the
//! capture is process-wide, so a test running beside the one that leaked fails with it).

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex, PoisonError};

use aho_corasick::AhoCorasick;
use coins_bip32::enc::{MainnetEncoder, XKeyEncoder};
use coins_bip39::{English, Mnemonic};
use payscan_core::config::{CustodyConfig, KeySource, SignerKind};
use payscan_core::DerivationIndex;
use payscan_custody::Keys;
use secrecy::SecretString;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use super::MNEMONIC;

/// anvil's default mnemonic: its accounts 0-9 fund, pay, relay and pay out in tests.
pub const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Destinations derived in tests stay below this index.
const DESTINATIONS: u32 = 64;
/// Markers the suite puts in RPC URLs' paths, queries and userinfo where it gives them keys.
const URL_KEY_MARKERS: &[&str] = &["SECRETKEYPATH", "SECRETKEYQUERY", "SECRETUSERINFO"];

/// What counts as a secret, and where it is looked for.
#[derive(Clone)]
pub struct Secrets {
    /// Lower-case substrings, each with what it is.
    needles: Vec<(String, String)>,
    /// All needles at once, case-insensitive: scanning keeps up with a daemon at trace level.
    automaton: AhoCorasick,
    /// Lower-case hex (no 0x) of private keys.
    keys: HashSet<String>,
}

fn automaton(needles: &[(String, String)]) -> AhoCorasick {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(needles.iter().map(|(_, needle)| needle))
        .expect("needles")
}

/// The account-level xprv (m/44'/60'/0') of `phrase`.
pub fn account_xprv(phrase: &str) -> String {
    let mnemonic = Mnemonic::<English>::new_from_phrase(phrase).expect("mnemonic");
    let account = mnemonic.derive_key("m/44'/60'/0'", None).expect("account key");
    MainnetEncoder::xpriv_to_base58(&account).expect("base58")
}

/// The private keys (hex, no 0x) of m/44'/60'/0'/0/i of `phrase`, i below `count`.
fn private_keys(phrase: &str, count: u32) -> Vec<String> {
    let keys = KeySource { xpub: None, mnemonic: Some(SecretString::from(phrase.to_owned())), xprv: None };
    let custody = CustodyConfig {
        signer: SignerKind::Local,
        sweep_interval: std::time::Duration::from_secs(600),
        sweep_cron: false,
        master_wallet: None,
        relayer_key: None,
        payout_key: None,
        payout_retry: Vec::new(),
        payout_minimums: Vec::new(),
        max_fee_per_gas: 1,
        replace_after: std::time::Duration::from_secs(60),
        sweep_max_gas_cost: None,
    };
    let keys = Keys::from_config(&keys, &custody).expect("test keys");
    (0..count)
        .map(|i| {
            let signer = keys.destination_signer(DerivationIndex::new(i).expect("index")).expect("signer");
            alloy::hex::encode(signer.to_bytes())
        })
        .collect()
}

static SUITE: LazyLock<Secrets> = LazyLock::new(|| {
    let mut needles = Vec::new();
    for (what, phrase) in [("the test mnemonic", MNEMONIC), ("anvil's mnemonic", ANVIL_MNEMONIC)] {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        // Any three consecutive words: one word alone is an ordinary English word.
        for run in words.windows(3) {
            needles.push((format!("{what}'s words"), run.join(" ")));
        }
        let xprv = account_xprv(phrase);
        needles.push((format!("{what}'s xprv"), xprv[4..40].to_owned()));
    }
    needles.push(("a webhook secret".to_owned(), "whsec_".to_owned()));
    needles.push(("a JWT secret".to_owned(), "test-jwt-secret-".to_owned()));
    for marker in URL_KEY_MARKERS {
        needles.push(("an RPC URL's key".to_owned(), (*marker).to_owned()));
    }
    let mut keys: HashSet<String> = private_keys(ANVIL_MNEMONIC, 10).into_iter().collect();
    keys.extend(private_keys(MNEMONIC, DESTINATIONS));
    keys.extend([super::RELAYER_KEY, super::PAYOUT_KEY].map(|k| k.trim_start_matches("0x").to_owned()));
    let needles: Vec<(String, String)> = needles.into_iter().map(|(w, n)| (w, n.to_ascii_lowercase())).collect();
    Secrets { automaton: automaton(&needles), needles, keys }
});

impl Secrets {
    /// The secrets every test shares.
    pub fn suite() -> Self {
        SUITE.clone()
    }

    /// These and one more.
    pub fn with(mut self, what: &str, needle: &str) -> Self {
        if !needle.is_empty() {
            self.needles.push((what.to_owned(), needle.to_ascii_lowercase()));
            self.automaton = automaton(&self.needles);
        }
        self
    }

    /// What `line` holds, as `what: line` (the line cut short).
    pub fn hits(&self, line: &str) -> Vec<String> {
        let mut found: Vec<&str> = Vec::new();
        for hit in self.automaton.find_overlapping_iter(line) {
            let what = self.needles[hit.pattern().as_usize()].0.as_str();
            if !found.contains(&what) {
                found.push(what);
            }
        }
        if hex_runs(line).any(|run| self.keys.contains(&run.to_ascii_lowercase())) {
            found.push("a test private key");
        }
        if extended_private_key(line) {
            found.push("an extended private key");
        }
        let excerpt: String = line.chars().take(300).collect();
        found.into_iter().map(|what| format!("{what}: {excerpt}")).collect()
    }

    /// Every hit in `lines`.
    pub fn scan<'a>(&self, lines: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        lines.into_iter().flat_map(|line| self.hits(line)).collect()
    }
}

/// 64-hex-digit windows of the hex runs in `line`: where a private key would be.
fn hex_runs(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !c.is_ascii_hexdigit()).filter(|run| run.len() >= 64).flat_map(|run| {
        // A short run may be a key with a hex letter or two of its neighbours glued on: every
        // offset; a long one is ABI words: every word.
        let step = if run.len() <= 72 { 1 } else { 64 };
        (0..=run.len() - 64).step_by(step).map(move |at| &run[at..at + 64])
    })
}

/// `xprv`/`tprv` followed by the base58 body of an extended key.
fn extended_private_key(line: &str) -> bool {
    ["xprv", "tprv"].iter().any(|prefix| {
        line.match_indices(prefix).any(|(at, _)| {
            line[at + 4..].chars().take_while(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(*c)).count() >= 100
        })
    })
}

/// A spawned daemon's output, scanned on a thread of its own so that reading it never holds the
/// daemon back (a full pipe would stall its logging, and with it the daemon).
#[derive(Clone)]
pub struct Scanned {
    lines: Arc<Mutex<Option<mpsc::Sender<String>>>>,
    hits: Arc<Mutex<Vec<String>>>,
    readers: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    scanner: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Scanned {
    pub fn new(secrets: Secrets) -> Self {
        let (lines, received) = mpsc::channel::<String>();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let found = hits.clone();
        let scanner = std::thread::spawn(move || {
            for line in received {
                let hits = secrets.hits(&line);
                if !hits.is_empty() {
                    found.lock().unwrap_or_else(PoisonError::into_inner).extend(hits);
                }
            }
        });
        Self {
            lines: Arc::new(Mutex::new(Some(lines))),
            hits,
            readers: Arc::default(),
            scanner: Arc::new(Mutex::new(Some(scanner))),
        }
    }

    /// Where a reader sends the lines it read.
    pub fn sender(&self) -> Option<mpsc::Sender<String>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The threads reading the daemon's output, joined by [`Scanned::check`].
    pub fn readers(&self, stdout: std::thread::JoinHandle<()>, stderr: std::thread::JoinHandle<()>) {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner).extend([stdout, stderr]);
    }

    /// Once the daemon has ended: reads and scans the rest of its output, then fails the test on
    /// any hit.
    pub fn check(&self) {
        let readers = std::mem::take(&mut *self.readers.lock().unwrap_or_else(PoisonError::into_inner));
        for reader in readers {
            let _ = reader.join();
        }
        drop(self.lines.lock().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(scanner) = self.scanner.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = scanner.join();
        }
        let hits = std::mem::take(&mut *self.hits.lock().unwrap_or_else(PoisonError::into_inner));
        if !hits.is_empty() && !std::thread::panicking() {
            panic!("payscan serve printed {} secrets, e.g.:\n{}", hits.len(), hits[..hits.len().min(10)].join("\n"));
        }
    }
}

/// Hits found in in-process output, in order; a `Watch` remembers how many there were.
static IN_PROCESS_HITS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Secrets of the tests alive now (their webhook secrets' keys), looked for in in-process output.
static LIVE: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// One test's view of in-process output: what was printed while it lived.
pub struct Watch {
    id: u64,
    start: usize,
}

impl Watch {
    /// Starts watching, also for `webhook_key` (this test's secret, printed by none).
    pub fn start(webhook_key: &str) -> Self {
        let id = rand::random::<u64>();
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).push((id, webhook_key.to_ascii_lowercase()));
        let start = IN_PROCESS_HITS.lock().unwrap_or_else(PoisonError::into_inner).len();
        Self { id, start }
    }

    /// Hits printed in process since this watch started.
    pub fn hits(&self) -> Vec<String> {
        scanned_so_far();
        IN_PROCESS_HITS.lock().unwrap_or_else(PoisonError::into_inner)[self.start..].to_vec()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let hits = self.hits();
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).retain(|(id, _)| *id != self.id);
        if !hits.is_empty() && !std::thread::panicking() {
            panic!(
                "payscan printed {} secrets in process, e.g.:\n{}",
                hits.len(),
                hits[..hits.len().min(10)].join("\n")
            );
        }
    }
}

/// Lines handed to the in-process scanner, and lines it has scanned.
static SENT: AtomicU64 = AtomicU64::new(0);
static SCANNED: AtomicU64 = AtomicU64::new(0);

/// The in-process scanner: a thread of its own, so that logging never waits for a scan.
static IN_PROCESS: LazyLock<Mutex<mpsc::Sender<String>>> = LazyLock::new(|| {
    let (lines, received) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in received {
            scan_in_process(&line);
            SCANNED.fetch_add(1, Ordering::Release);
        }
    });
    Mutex::new(lines)
});

/// Waits until every line logged so far is scanned (ten seconds at most).
fn scanned_so_far() {
    let sent = SENT.load(Ordering::Acquire);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while SCANNED.load(Ordering::Acquire) < sent && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Records what an in-process line gives away.
fn scan_in_process(line: &str) {
    let mut hits = SUITE.hits(line);
    let lower = line.to_ascii_lowercase();
    for (_, key) in LIVE.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        if lower.contains(key.as_str()) {
            hits.push(format!("a webhook secret's key: {}", line.chars().take(300).collect::<String>()));
        }
    }
    if !hits.is_empty() {
        IN_PROCESS_HITS.lock().unwrap_or_else(PoisonError::into_inner).extend(hits);
    }
}

/// A writer that scans each event it is handed (one whole formatted event per write).
struct Scanner;

impl io::Write for Scanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let lines = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
        for line in String::from_utf8_lossy(buf).lines() {
            SENT.fetch_add(1, Ordering::AcqRel);
            if lines.send(line.to_owned()).is_err() {
                SCANNED.fetch_add(1, Ordering::Release);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Scanner {
    type Writer = Scanner;

    fn make_writer(&'a self) -> Self::Writer {
        Scanner
    }
}

/// The test process's subscriber: payscan's test logging (through the harness's capture, at
/// `RUST_LOG`) and, beside it, every event at `PAYSCAN_TEST_CAPTURE_LOG` (default `trace`)
/// formatted as payscan prints it and scanned for secrets. Installed once; later calls are no-ops.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let shown =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
        let captured = std::env::var("PAYSCAN_TEST_CAPTURE_LOG").unwrap_or_else(|_| "trace".to_owned());
        let shown = tracing_subscriber::fmt::layer()
            .with_writer(payscan::telemetry::Scrubbing(tracing_subscriber::fmt::TestWriter::new()))
            .with_filter(shown);
        let scanned = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(payscan::telemetry::Scrubbing(Scanner))
            .with_filter(EnvFilter::new(captured));
        let _ = tracing_subscriber::registry().with(shown).with(scanned).try_init();
    });
}

#[test]
fn the_scanner_finds_each_kind_of_secret() {
    let secrets = Secrets::suite();
    let key = private_keys(MNEMONIC, 5).pop().expect("a key");
    let xprv = account_xprv(MNEMONIC);
    for leaked in [
        format!("signing with 0x{key}"),
        format!("key={}", key.to_ascii_uppercase()),
        "mnemonic abandon abandon about".to_owned(),
        format!("xprv: {xprv}"),
        "secret whsec_abc".to_owned(),
        "url=http://127.0.0.1:1/v2/SECRETKEYPATH".to_owned(),
        format!("account key {}", &account_xprv(ANVIL_MNEMONIC)),
    ] {
        assert!(!secrets.hits(&leaked).is_empty(), "missed: {leaked}");
    }
    let tx = "tx 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 block 0xabc";
    assert!(secrets.hits(tx).is_empty(), "a transaction hash is no key");
    assert!(secrets.hits("PAYSCAN_XPRV: set PAYSCAN_MNEMONIC or PAYSCAN_XPRV, not both").is_empty());
}
