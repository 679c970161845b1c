//! Failed-login rate limiting: a sliding window of failure times per source
//! address and per account, held in memory by the API. Time is passed in.
//! Memory is bounded: at most `max_failures` instants per key and `max_keys`
//! keys per kind (the stalest key is evicted first).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use time::Duration;

use crate::Timestamp;

/// Limits for [`LoginThrottle`] (explicit config values, ARCHITECTURE §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// How far back failures count.
    pub window: Duration,
    /// Failures allowed per source address within the window.
    pub max_per_source: usize,
    /// Failures allowed per account within the window.
    pub max_per_account: usize,
    /// Keys remembered per kind before the stalest is evicted.
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            window: Duration::minutes(15),
            max_per_source: 20,
            max_per_account: 10,
            max_keys: 100_000,
        }
    }
}

/// Which limit was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    Source(IpAddr),
    Account(String),
}

/// A login attempt refused before checking the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins; retry in {retry_after}")]
pub struct Throttled {
    pub key: ThrottleKey,
    pub retry_after: Duration,
}

#[derive(Debug)]
struct Windows<K: Ord> {
    failures: BTreeMap<K, VecDeque<Timestamp>>,
}

impl<K: Ord> Default for Windows<K> {
    fn default() -> Self {
        Windows {
            failures: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Windows<K> {
    fn recent(
        &mut self,
        key: &K,
        now: Timestamp,
        window: Duration,
    ) -> Option<&VecDeque<Timestamp>> {
        let q = self.failures.get_mut(key)?;
        while q.front().is_some_and(|t| now.get() - t.get() >= window) {
            q.pop_front();
        }
        if q.is_empty() {
            self.failures.remove(key);
            return None;
        }
        self.failures.get(key)
    }

    /// `Some(retry_after)` when `key` has `max` failures in the window.
    fn check(&mut self, key: &K, now: Timestamp, window: Duration, max: usize) -> Option<Duration> {
        let q = self.recent(key, now, window)?;
        if q.len() < max {
            return None;
        }
        // The oldest failure that still counts ages out first.
        let oldest = q[q.len() - max];
        Some(window - (now.get() - oldest.get()))
    }

    fn record(&mut self, key: K, now: Timestamp, max: usize, max_keys: usize) {
        if !self.failures.contains_key(&key) && self.failures.len() >= max_keys {
            let stalest = self
                .failures
                .iter()
                .min_by_key(|(_, q)| q.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                self.failures.remove(&k);
            }
        }
        let q = self.failures.entry(key).or_default();
        q.push_back(now);
        while q.len() > max.max(1) {
            q.pop_front();
        }
    }
}

/// Failed-login windows by source address and by account (normalised e-mail).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    sources: Windows<IpAddr>,
    accounts: Windows<String>,
}

impl LoginThrottle {
    /// An empty throttle.
    pub fn new(config: ThrottleConfig) -> Self {
        LoginThrottle {
            config,
            sources: Windows::default(),
            accounts: Windows::default(),
        }
    }

    /// Call before checking a password: refuses when either limit is reached.
    pub fn check(
        &mut self,
        source: IpAddr,
        account: &str,
        now: Timestamp,
    ) -> Result<(), Throttled> {
        let c = self.config;
        if let Some(retry_after) = self.sources.check(&source, now, c.window, c.max_per_source) {
            return Err(Throttled {
                key: ThrottleKey::Source(source),
                retry_after,
            });
        }
        let account = account.to_string();
        if let Some(retry_after) = self
            .accounts
            .check(&account, now, c.window, c.max_per_account)
        {
            return Err(Throttled {
                key: ThrottleKey::Account(account),
                retry_after,
            });
        }
        Ok(())
    }

    /// Records a failed attempt against both keys.
    pub fn record_failure(&mut self, source: IpAddr, account: &str, now: Timestamp) {
        let c = self.config;
        self.sources
            .record(source, now, c.max_per_source, c.max_keys);
        self.accounts
            .record(account.to_string(), now, c.max_per_account, c.max_keys);
    }

    /// A successful login clears the account's failures (not the source's:
    /// one valid account must not launder a spraying address).
    pub fn record_success(&mut self, account: &str) {
        self.accounts.failures.remove(account);
    }

    /// Keys currently remembered (sources, accounts), for metrics and tests.
    pub fn keys(&self) -> (usize, usize) {
        (self.sources.failures.len(), self.accounts.failures.len())
    }
}
