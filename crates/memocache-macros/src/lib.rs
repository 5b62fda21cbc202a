//! The `#[memoize]` attribute of memocache. Depend on the `memocache` crate and use it as
//! `memocache::memoize`: the code it writes refers to `::memocache`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod duration;
mod expand;
mod options;

/// Memoizes an `async fn`.
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    let expanded = syn::parse::<syn::ItemFn>(item).and_then(|item| {
        let options = syn::parse::<options::Options>(attr)?;
        expand::expand(options, item)
    });
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the function as written, so that the only errors are the macro's.
        Err(e) => {
            let error = e.into_compile_error();
            quote::quote!(#error #original).into()
        }
    }
}
