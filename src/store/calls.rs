//! What the client's calls do with a store: token references (`{"account": "…"}`) for refresh,
//! send and revoke, saving an authorization under its email, and the account list.
//!
//! A reference names an entry; the entry's token is loaded, refreshed under the store's lock when
//! needed ([`Store::refresh_locked`]) and written back. The lock wait is bounded by one token
//! request's worth of the call's timeouts (connect + I/O) and by its cancel flag.

use serde::Serialize;

use super::{missing_account, Store, Wait};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::provider::ProviderKind;
use crate::token::{self, TokenDocument};

/// One account in `oauthmail_store_list`: what the store knows about it, never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub account: String,
    pub provider: ProviderKind,
    pub scope: String,
    pub authorized_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub refreshed_at: Option<i64>,
}

/// The store a reference needs, or INVALID_ARGUMENT naming `token.account` when none is configured.
pub(crate) fn require(store: Option<&Store>) -> Result<&Store> {
    store.ok_or_else(|| {
        Error::invalid(
            "token.account",
            "a token reference ({\"account\": …}) needs a token store: add \"store\" to the configuration, \
             or pass the whole token document",
        )
    })
}

/// The lock wait of a call: as long as one token request may take.
pub(crate) fn with_wait<T>(ctx: Ctx<'_>, f: impl FnOnce(&Wait) -> Result<T>) -> Result<T> {
    let check = || ctx.call.check();
    let wait = Wait::new(ctx.settings.timeouts.connect + ctx.settings.timeouts.io, &check);
    f(&wait)
}

/// The token stored for `account`.
pub(crate) fn load(store: &Store, account: &str) -> Result<TokenDocument> {
    store
        .load(account)?
        .map(|e| e.token)
        .ok_or_else(|| missing_account(account))
}

/// Refreshes `stale` (the token loaded for `account`) through the store: one refresh across all
/// processes; if another one refreshed meanwhile, its token. The flag says whether this call made
/// the refresh.
pub(crate) fn refresh_stored(
    ctx: Ctx<'_>,
    store: &Store,
    account: &str,
    stale: &TokenDocument,
) -> Result<(TokenDocument, bool)> {
    with_wait(ctx, |wait| {
        store
            .refresh_locked(account, stale, wait, |stored| token::refresh(ctx, stored))
            .map(|r| {
                let by_us = matches!(r, super::Refreshed::ByUs(_));
                if !by_us {
                    ctx.log
                        .debug(|| "another process refreshed the token meanwhile; using its token".into());
                }
                (r.into_token(), by_us)
            })
    })
}

/// `oauthmail_refresh` with `{"account": …}`: refreshes the stored token.
pub(crate) fn refresh_account(ctx: Ctx<'_>, store: Option<&Store>, account: &str) -> Result<TokenDocument> {
    let store = require(store)?;
    let stale = load(store, account)?;
    refresh_stored(ctx, store, account, &stale).map(|(doc, _)| doc)
}

/// `oauthmail_revoke` with `{"account": …}`: revokes the stored grant, then removes the entry.
pub(crate) fn revoke_account(ctx: Ctx<'_>, store: Option<&Store>, account: &str) -> Result<token::Revocation> {
    let store = require(store)?;
    let revocation = token::revoke(ctx, &load(store, account)?)?;
    with_wait(ctx, |wait| store.remove(account, wait))?;
    ctx.log.info(|| format!("removed {account} from the token store"));
    Ok(revocation)
}

/// After `oauthmail_authorize`: the new token replaces the account's entry. A token without an
/// email cannot be named later, so it is not saved (and a warning says so).
pub(crate) fn save_authorized(ctx: Ctx<'_>, store: &Store, token: &TokenDocument) -> Result<()> {
    let Some(email) = token.email.as_deref().filter(|e| !e.is_empty()) else {
        ctx.log
            .warn(|| "the account's email is unknown, so the token was not saved in the token store".into());
        return Ok(());
    };
    with_wait(ctx, |wait| store.save(email, token, wait))?;
    ctx.log.info(|| format!("saved {email} in the token store"));
    Ok(())
}

/// `oauthmail_store_list`.
pub(crate) fn list(store: &Store) -> Result<Vec<AccountSummary>> {
    Ok(store
        .entries()?
        .into_iter()
        .map(|(account, e)| AccountSummary {
            account,
            provider: e.token.provider,
            scope: e.token.scope,
            authorized_at: e.token.authorized_at,
            expires_at: e.token.expires_at,
            refreshed_at: e.refreshed_at,
        })
        .collect())
}

/// `oauthmail_store_remove`: whether the account was there.
pub(crate) fn remove(ctx: Ctx<'_>, store: &Store, account: &str) -> Result<bool> {
    with_wait(ctx, |wait| store.remove(account, wait))
}
