//! The expansion of `#[memoize]`: checks the function's signature, then writes three items in
//! place of the function:
//!
//! - the **wrapper**, with the function's name and arguments: it builds the key, clones the
//!   arguments into a `'static` loader and asks the cache;
//! - the **body**, `__memocache_<name>`: the original function, renamed, nested in the
//!   wrapper (a hidden sibling for a method);
//! - the **handle**, `<name>_memo()`: owns the static cache and returns a `memocache::Memo`.
//!
//! In an `impl` block the wrapper reaches the other two through `Self::`; the macro takes a
//! function for an associated one when it has a receiver or mentions `Self`.
//!
//! The steps live in their own modules: [`crate::validate`] checks the signature,
//! [`crate::params`] turns the arguments into the key and the loader's copies, and
//! [`crate::emit`] writes the three items.

use proc_macro2::TokenStream;
use syn::ItemFn;

use crate::options::Options;
use crate::params::Args;
use crate::{emit, validate};

pub(crate) fn expand(options: Options, item: ItemFn) -> syn::Result<TokenStream> {
    let out = validate::signature(&options, &item.sig)?;
    let args = Args::of(&item.sig);
    Ok(emit::items(&options, &item, &out, &args))
}
