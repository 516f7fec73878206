//! The content-addressed cache: keys, the file-hash memo, entries with manifests, refs and gc.

pub mod filehash;
pub mod fsutil;
pub mod key;
pub mod store;

pub use key::{InputId, Recipe};
pub use store::{Manifest, Store};
