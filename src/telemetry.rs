//! Logging: `tracing` to stdout, filtered by `RUST_LOG` (default `info`). Every line passes
//! through [`scrub_urls`] on its way out: a dependency's span or error may quote an RPC URL with
//! its API key (alloy's transport names its URL at debug level), and no log line may carry one.

use std::io;

use payscan_core::redact::scrub_urls;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests call it per test).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,alloy_transport_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(Scrubbing(io::stdout))
        .try_init();
}

/// Like [`init`], but through the test harness's capture: a test's logs show only when it fails.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Scrubbing(tracing_subscriber::fmt::TestWriter::new()))
        .try_init();
}

/// A writer factory whose writers redact every URL in what they are given.
#[derive(Debug, Clone, Copy)]
pub struct Scrubbing<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbing<M> {
    type Writer = ScrubbingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter(self.0.make_writer())
    }
}

/// Writes each buffer (the formatter hands over one whole event at a time) with its URLs redacted.
#[derive(Debug)]
pub struct ScrubbingWriter<W>(W);

impl<W: io::Write> io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub_urls(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// HTTPS to RPC nodes and webhook targets uses rustls with the ring provider.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn log_lines_leave_without_url_keys() {
        let mut out = ScrubbingWriter(Vec::new());
        let line = b"DEBUG ReqwestTransport{url=http://127.0.0.1:8545/v2/SECRETKEY?apikey=SECRET2}: request\n";
        assert_eq!(out.write(line).ok(), Some(line.len()));
        let written = String::from_utf8(out.0).unwrap_or_default();
        assert!(!written.contains("SECRET"), "{written}");
        assert!(written.contains("http://127.0.0.1:8545/…"), "{written}");
    }
}
