//! Wall-clock time as payscan stores it: milliseconds since the Unix epoch.
//!
//! The test build (the `failpoints` feature) can move this clock forward, so that the end-to-end
//! suite lives through days of retry schedules without sleeping them: `PAYSCAN_TEST_CLOCK` names a
//! file holding the milliseconds to add, re-read at most every 20 ms. Every time payscan stores or
//! compares comes from here; timers (polls, timeouts) stay on real time.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let real = Utc::now().timestamp_millis();
    real.saturating_add(shift::current(real))
}

/// RFC 3339 with milliseconds, as JSON bodies carry times.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(not(feature = "failpoints"))]
mod shift {
    #[inline(always)]
    pub(super) fn current(_real: i64) -> i64 {
        0
    }
}

#[cfg(feature = "failpoints")]
mod shift {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::LazyLock;

    static FILE: LazyLock<Option<PathBuf>> =
        LazyLock::new(|| std::env::var_os("PAYSCAN_TEST_CLOCK").map(PathBuf::from));
    static SHIFT: AtomicI64 = AtomicI64::new(0);
    static READ_AT: AtomicI64 = AtomicI64::new(i64::MIN);

    pub(super) fn current(real: i64) -> i64 {
        let Some(file) = FILE.as_ref() else { return 0 };
        let last = READ_AT.load(Ordering::Relaxed);
        if real.saturating_sub(last) >= 20
            && READ_AT.compare_exchange(last, real, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            if let Some(shift) = std::fs::read_to_string(file).ok().and_then(|text| text.trim().parse().ok()) {
                SHIFT.store(shift, Ordering::Relaxed);
            }
        }
        SHIFT.load(Ordering::Relaxed)
    }
}
