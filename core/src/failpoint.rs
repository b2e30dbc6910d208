//! Named steps where the end-to-end suite crashes payscan on purpose, to prove that a crash at
//! exactly that step loses and repeats nothing. They exist only with the `failpoints` feature,
//! which only the test build turns on; otherwise [`reached`] is an empty inline function.
//!
//! `PAYSCAN_FAILPOINTS=name:n,…` makes the process abort (no destructors, no graceful shutdown,
//! nothing flushed: what `kill -9` does) the `n`-th time it reaches step `name` (`n` defaults to 1).

/// Marks a step. Names: `follower.logs_fetched` (a range's logs are read, nothing written yet),
/// `follower.credited` (credits and their events committed), `follower.confirmed` (a
/// confirmation change and its event committed), `dispatch.acknowledged` (a target answered 2xx,
/// not yet recorded), `outbound.broadcast` (a recorded transaction was sent to the node),
/// `sweep.mined` (a sweep's transfer is mined, the sweep not yet recorded).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn reached(_name: &str) {}

#[cfg(feature = "failpoints")]
pub fn reached(name: &str) {
    use std::sync::atomic::Ordering;
    if let Some(left) = armed::POINTS.get(name) {
        if left.fetch_sub(1, Ordering::SeqCst) == 1 {
            eprintln!("payscan: failpoint {name} reached: aborting");
            std::process::abort();
        }
    }
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU64;
    use std::sync::LazyLock;

    pub(super) static POINTS: LazyLock<HashMap<String, AtomicU64>> =
        LazyLock::new(|| parse(&std::env::var("PAYSCAN_FAILPOINTS").unwrap_or_default()));

    pub(super) fn parse(spec: &str) -> HashMap<String, AtomicU64> {
        spec.split(',')
            .map(str::trim)
            .filter(|point| !point.is_empty())
            .map(|point| match point.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.trim().parse().unwrap_or(1).max(1)),
                None => (point.to_owned(), 1),
            })
            .map(|(name, n)| (name, AtomicU64::new(n)))
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::Ordering;

        #[test]
        fn a_spec_names_steps_and_the_hit_that_aborts() {
            let points = super::parse("follower.credited:3, dispatch.acknowledged,,sweep.mined:0");
            let n = |name: &str| points.get(name).map(|left| left.load(Ordering::SeqCst));
            assert_eq!(n("follower.credited"), Some(3));
            assert_eq!(n("dispatch.acknowledged"), Some(1));
            assert_eq!(n("sweep.mined"), Some(1), "0 would never abort");
            assert_eq!(points.len(), 3);
        }
    }
}
