//! When to renew an agent or bridge certificate: at two thirds of its lifetime,
//! moved by up to ±5 % of the lifetime so a fleet issued together does not
//! renew together. Pure functions; the caller sleeps (or not) as it likes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::error::{ClaimsError, PkiError};

/// Largest jitter, as a fraction of the lifetime, either way.
pub const MAX_JITTER_FRACTION: f64 = 0.05;

/// The instant to renew a certificate valid from `not_before` to `not_after`.
///
/// `jitter` in `[-1.0, 1.0]` moves the result by `jitter × 5 %` of the
/// lifetime from the two-thirds point (values outside are clamped, NaN is 0).
/// The result is never before `not_before` nor after `not_after`; a
/// certificate with no lifetime left is due at `not_before`.
pub fn renewal_at(not_before: SystemTime, not_after: SystemTime, jitter: f64) -> SystemTime {
    let Ok(lifetime) = not_after.duration_since(not_before) else {
        return not_before;
    };
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(-1.0, 1.0)
    };
    let base = lifetime.as_secs_f64() * 2.0 / 3.0;
    let offset = lifetime.as_secs_f64() * MAX_JITTER_FRACTION * jitter;
    let at = (base + offset).clamp(0.0, lifetime.as_secs_f64());
    // `at` is within [0, lifetime], which is a valid Duration.
    not_before + Duration::from_secs_f64(at).min(lifetime)
}

/// A uniformly distributed jitter in `[-1.0, 1.0]` from the system CSPRNG.
pub fn random_jitter() -> Result<f64, PkiError> {
    let mut bytes = [0u8; 4];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    let unit = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    Ok(unit * 2.0 - 1.0)
}

/// [`renewal_at`] with a random jitter.
pub fn renewal_at_random(
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<SystemTime, PkiError> {
    Ok(renewal_at(not_before, not_after, random_jitter()?))
}

/// How long from `now` until `at`; zero when it is already due.
pub fn renewal_delay(now: SystemTime, at: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or_default()
}

/// The validity window (not-before, not-after) of a certificate in DER, for
/// scheduling the renewal of the certificate one holds.
pub fn cert_validity(der: &[u8]) -> Result<(SystemTime, SystemTime), ClaimsError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| ClaimsError::Malformed {
        reason: e.to_string(),
    })?;
    let v = cert.validity();
    let t = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    Ok((t(v.not_before.timestamp()), t(v.not_after.timestamp())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::AGENT_CERT_LIFETIME;

    fn window() -> (SystemTime, SystemTime) {
        let nb = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        (nb, nb + AGENT_CERT_LIFETIME)
    }

    #[test]
    fn no_jitter_is_two_thirds() {
        let (nb, na) = window();
        assert_eq!(renewal_at(nb, na, 0.0), nb + Duration::from_secs(16 * 3600));
    }

    #[test]
    fn jitter_is_bounded_to_five_percent() {
        let (nb, na) = window();
        let five_pct = Duration::from_secs_f64(24.0 * 3600.0 * 0.05);
        let two_thirds = nb + Duration::from_secs(16 * 3600);
        assert_eq!(renewal_at(nb, na, 1.0), two_thirds + five_pct);
        assert_eq!(renewal_at(nb, na, -1.0), two_thirds - five_pct);
        // Out-of-range and NaN inputs are clamped, never past the window.
        assert_eq!(renewal_at(nb, na, 50.0), two_thirds + five_pct);
        assert_eq!(renewal_at(nb, na, f64::NEG_INFINITY), two_thirds - five_pct);
        assert_eq!(renewal_at(nb, na, f64::NAN), two_thirds);
    }

    #[test]
    fn random_jitter_stays_in_range() {
        let (nb, na) = window();
        for _ in 0..1000 {
            let j = random_jitter().unwrap();
            assert!((-1.0..=1.0).contains(&j));
            let at = renewal_at(nb, na, j);
            assert!(
                at >= nb + Duration::from_secs_f64(24.0 * 3600.0 * (2.0 / 3.0 - 0.05))
                    - Duration::from_millis(1)
            );
            assert!(at < na);
        }
    }

    #[test]
    fn empty_or_inverted_window_is_due_at_once() {
        let (nb, _) = window();
        assert_eq!(renewal_at(nb, nb, 0.5), nb);
        assert_eq!(renewal_at(nb, nb - Duration::from_secs(5), 0.5), nb);
    }

    #[test]
    fn delay_saturates_at_zero() {
        let (nb, na) = window();
        assert_eq!(renewal_delay(na, nb), Duration::ZERO);
        assert_eq!(renewal_delay(nb, na), AGENT_CERT_LIFETIME);
    }
}
