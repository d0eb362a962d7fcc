//! API keys submitted over HTTP, held only in the memory of the server that received them.
//!
//! `POST /submissions` may carry the judge's key (`api_key`). It is never written anywhere: the
//! vault keeps it under a random reference (`OMNIREWARD_KEY_HELD_<32 hex digits>`), the job
//! records only that reference where it would otherwise name an environment variable, and the
//! server's own workers look the reference up here. Consequences, stated in the README: only
//! workers inside that server (`serve --workers N`) can run such a job, and a server restart
//! forgets the key, after which the job fails with a message asking to submit again. Keys held
//! for a submission that turned out to be a duplicate stay until the server stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::judges::api::client::ApiKey;

/// Queued jobs may only name environment variables with this prefix for their API key: a job
/// submitted over HTTP chooses its endpoint, so letting it name any variable (a cloud secret,
/// say) would let a submitter have a worker send that secret to a server of their choosing.
pub const KEY_VARIABLE_PREFIX: &str = "OMNIREWARD_KEY_";

/// Resolves the name of an environment variable to the API key it holds.
pub type ApiKeyLookup = Arc<dyn Fn(&str) -> Option<ApiKey> + Send + Sync>;

/// How references to held keys start (inside the reserved `OMNIREWARD_KEY_` space, so a held
/// reference and an environment variable can never be confused by a worker).
pub const HELD_PREFIX: &str = "OMNIREWARD_KEY_HELD_";

/// Keys received over HTTP, by reference. Cheap to clone; clones share the keys.
#[derive(Clone, Default)]
pub struct KeyVault {
    keys: Arc<Mutex<HashMap<String, ApiKey>>>,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("KeyVault(<redacted>)")
    }
}

impl KeyVault {
    /// An empty vault.
    pub fn new() -> KeyVault {
        KeyVault::default()
    }

    /// Holds `key` and returns the reference a job records instead of the key.
    pub fn hold(&self, key: ApiKey) -> String {
        // A random v4 UUID: references cannot be guessed (they are refused in submissions
        // anyway, see `is_held_reference`).
        let reference = format!("{HELD_PREFIX}{}", uuid::Uuid::new_v4().simple());
        self.lock().insert(reference.clone(), key);
        reference
    }

    /// The key held under `reference`.
    pub fn get(&self, reference: &str) -> Option<ApiKey> {
        self.lock().get(reference).cloned()
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A lookup for this server's workers: held references from the vault, anything else
    /// through `fallback` (the environment).
    pub fn lookup(&self, fallback: ApiKeyLookup) -> ApiKeyLookup {
        let vault = self.clone();
        Arc::new(move |variable: &str| {
            if is_held_reference(variable) {
                vault.get(variable)
            } else {
                fallback(variable)
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ApiKey>> {
        // A poisoned lock only means another thread panicked while holding it; the map itself
        // is always in a consistent state (single inserts and reads).
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether a key variable name is a vault reference, which only the vault may hand out.
pub fn is_held_reference(variable: &str) -> bool {
    debug_assert!(HELD_PREFIX.starts_with(KEY_VARIABLE_PREFIX));
    variable.starts_with(HELD_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_keys_are_found_by_reference_only() {
        let vault = KeyVault::new();
        let reference = vault.hold(ApiKey::new("sk-secret".to_owned()));
        assert!(reference.starts_with(HELD_PREFIX) && reference.len() == HELD_PREFIX.len() + 32);
        assert!(vault.get(&reference).is_some());
        assert!(
            vault
                .get(&format!("{HELD_PREFIX}00000000000000000000000000000000"))
                .is_none()
        );
        let other = vault.hold(ApiKey::new("sk-other".to_owned()));
        assert_ne!(reference, other);
        assert_eq!(vault.len(), 2);
        assert!(!format!("{vault:?}").contains("sk-"));

        let lookup = vault.lookup(Arc::new(|variable: &str| {
            (variable == "OMNIREWARD_KEY_ENV").then(|| ApiKey::new("from-env".to_owned()))
        }));
        assert!(lookup(&reference).is_some());
        assert!(lookup("OMNIREWARD_KEY_ENV").is_some());
        // A held-looking name the vault never issued is not looked up in the environment.
        assert!(lookup(&format!("{HELD_PREFIX}ENV")).is_none());
    }
}
