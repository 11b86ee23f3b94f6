//! Login rate limits: attempts per client address per minute, and failed
//! attempts per (user name, client address) per five minutes. Over a limit,
//! login answers 429 with `Retry-After`. Failures are counted per address so
//! that someone guessing a user's password locks only themselves out, not
//! the user. Addresses are keys from [`super::client::limit_key`] (IPv6 by
//! /64). Counters live in memory, per replica.
//!
//! Not `governor`: its keyed GCRA limiter counts every call and cannot
//! forget one key's history, while a successful login here must clear the
//! failures of its (user, address) and only failures may count towards
//! that limit. A window of timestamps per key does both, and tells the
//! exact `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Window {
    limit: u32,
    span: Duration,
    hits: HashMap<String, VecDeque<Instant>>,
}

impl Window {
    fn new(limit: u32, span: Duration) -> Self {
        Window {
            limit,
            span,
            hits: HashMap::new(),
        }
    }

    /// Seconds until a new hit is allowed, if the key is over its limit.
    fn blocked_for(&mut self, key: &str, now: Instant) -> Option<u64> {
        let q = self.hits.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.span)
        {
            q.pop_front();
        }
        if q.len() < self.limit as usize {
            return None;
        }
        let oldest = *q.front()?;
        let wait = self.span.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs() + 1)
    }

    fn hit(&mut self, key: &str, now: Instant) {
        if self.hits.len() > 100_000 {
            let span = self.span;
            self.hits
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < span));
        }
        self.hits.entry(key.to_string()).or_default().push_back(now);
    }

    fn clear(&mut self, key: &str) {
        self.hits.remove(key);
    }
}

fn user_key(username: &str, address: &str) -> String {
    format!("{address}\n{username}")
}

#[derive(Debug)]
pub struct LoginLimiter {
    inner: Mutex<(Window, Window)>,
}

impl LoginLimiter {
    pub fn new(per_address_per_minute: u32, failures_per_user: u32) -> Self {
        LoginLimiter {
            inner: Mutex::new((
                Window::new(per_address_per_minute.max(1), Duration::from_secs(60)),
                Window::new(failures_per_user.max(1), Duration::from_secs(300)),
            )),
        }
    }

    /// Counts an attempt from `address` for `username`; `Err(secs)` when the
    /// address, or this user from this address, is over its limit (the
    /// attempt is then refused without checking the password).
    pub fn attempt(&self, address: &str, username: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (addr, user) = &mut *g;
        if let Some(s) = addr.blocked_for(address, now) {
            return Err(s);
        }
        if let Some(s) = user.blocked_for(&user_key(username, address), now) {
            return Err(s);
        }
        addr.hit(address, now);
        Ok(())
    }

    pub fn failed(&self, address: &str, username: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.hit(&user_key(username, address), Instant::now());
    }

    pub fn succeeded(&self, address: &str, username: &str) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.clear(&user_key(username, address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_limit() {
        let l = LoginLimiter::new(3, 100);
        for _ in 0..3 {
            assert!(l.attempt("1.2.3.4", "a").is_ok());
        }
        let wait = l.attempt("1.2.3.4", "b").unwrap_err();
        assert!((1..=61).contains(&wait), "{wait}");
        assert!(l.attempt("5.6.7.8", "a").is_ok());
    }

    #[test]
    fn per_user_failures_and_reset() {
        let l = LoginLimiter::new(100, 2);
        for _ in 0..2 {
            l.attempt("a1", "alice").unwrap();
            l.failed("a1", "alice");
        }
        assert!(l.attempt("a1", "alice").is_err());
        assert!(l.attempt("a1", "bob").is_ok());
        // The failures from a1 do not lock alice out from a2.
        assert!(l.attempt("a2", "alice").is_ok());
        l.succeeded("a1", "alice");
        assert!(l.attempt("a1", "alice").is_ok());
    }
}
