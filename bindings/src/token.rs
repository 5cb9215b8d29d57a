//! The device token's home on the phone: a [`TokenStore`] the app implements over the
//! platform's key storage (Android Keystore, iOS Keychain with
//! `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`) and passes to
//! `Store.open_with_token_store`. The token never enters the database; one an older version
//! left there moves to the token store when the store opens.

use std::sync::Arc;

use outpost_core::sync as core_sync;

/// Implemented in Kotlin or Swift. Called from background threads, rarely (enrollment, the
/// first sync after the app starts): a Keystore or Keychain round trip is fine here.
#[uniffi::export(foreign)]
pub trait TokenStore: Send + Sync {
    /// The stored token, or null if there is none (never enrolled, or the key was lost).
    fn load(&self) -> Result<Option<String>, TokenStoreError>;
    /// Replaces the stored token; null removes it. Must be durable when it returns.
    fn save(&self, token: Option<String>) -> Result<(), TokenStoreError>;
}

/// The platform could not read or keep the token (a locked Keychain, a Keystore error).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TokenStoreError {
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TokenStoreError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TokenStoreError::Failed { reason: e.reason }
    }
}

/// Core's view of the app's token store.
pub(crate) struct Foreign(pub(crate) Arc<dyn TokenStore>);

impl core_sync::TokenStore for Foreign {
    fn load(&self) -> Result<Option<String>, core_sync::TokenStoreError> {
        self.0.load().map_err(failed)
    }

    fn save(&self, token: Option<&str>) -> Result<(), core_sync::TokenStoreError> {
        self.0.save(token.map(str::to_string)).map_err(failed)
    }
}

fn failed(e: TokenStoreError) -> core_sync::TokenStoreError {
    core_sync::TokenStoreError(e.to_string())
}
