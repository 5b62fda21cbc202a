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
//! The checks on the signature, which make every compile error about it, live in
//! [`crate::validate`].

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Attribute, FnArg, GenericParam, Ident, ItemFn, Lifetime, Pat, ReturnType, Type};

use crate::options::Options;
use crate::validate::{self, Output};

/// How the receiver is taken.
enum Receiver {
    /// `&self`, `&'a self`, `self: &Self`: the loader gets a clone of `*self` (`Self: Clone`).
    ByRef { ty: Type },
    /// `self`, `mut self`, `self: Arc<Self>`, ...: moved into the loader.
    ByValue { ty: Type },
}

/// One argument other than the receiver.
struct Param {
    /// The name it has in the wrapper (its own name, or a generated one for other patterns).
    ident: Ident,
    /// Its type as written.
    ty: Type,
    /// `Some(T)` for a `&T` argument: the key and the loader get `T::to_owned()`.
    referent: Option<Type>,
}

/// Replaces the lifetimes declared by the function itself with `'_`, so that the argument types
/// can appear in a function pointer type (where `'_` is higher-ranked) outside the function.
struct EraseLifetimes<'a>(&'a HashSet<String>);

impl VisitMut for EraseLifetimes<'_> {
    fn visit_lifetime_mut(&mut self, l: &mut Lifetime) {
        if self.0.contains(&l.ident.to_string()) {
            *l = Lifetime::new("'_", l.span());
        }
    }
}

/// `true` when `tokens` use the `self` value (not a `self::` path).
pub(crate) fn mentions_self_value(tokens: TokenStream) -> bool {
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(i) if i == "self" => {
                let path = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                if !path {
                    return true;
                }
            }
            TokenTree::Group(g) if mentions_self_value(g.stream()) => return true,
            _ => {}
        }
    }
    false
}

/// `true` when `tokens` mention the `Self` type.
fn mentions_self_type(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "Self",
        TokenTree::Group(g) => mentions_self_type(g.stream()),
        _ => false,
    })
}

/// Renames the `self` value to `to` (keeping `self::` paths), for the key function of the
/// handle, which is a closure and has no receiver.
fn rename_self(tokens: TokenStream, to: &Ident) -> TokenStream {
    let mut out = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(i) if i == "self" => {
                let path = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                if path {
                    out.push(TokenTree::Ident(i));
                } else {
                    let mut renamed = to.clone();
                    renamed.set_span(i.span());
                    out.push(TokenTree::Ident(renamed));
                }
            }
            TokenTree::Group(g) => {
                let mut ng = proc_macro2::Group::new(g.delimiter(), rename_self(g.stream(), to));
                ng.set_span(g.span());
                out.push(TokenTree::Group(ng));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

fn is_lint_attr(attr: &Attribute) -> bool {
    ["allow", "warn", "deny", "forbid"]
        .iter()
        .any(|n| attr.path().is_ident(n))
}

fn is_cfg_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr")
}

pub(crate) fn expand(options: Options, item: ItemFn) -> syn::Result<TokenStream> {
    let sig = &item.sig;
    let name = &sig.ident;
    let name_str = name.unraw().to_string();

    let out = validate::signature(&options, sig)?;
    let mut fn_lifetimes = HashSet::new();
    for param in &sig.generics.params {
        if let GenericParam::Lifetime(l) = param {
            fn_lifetimes.insert(l.lifetime.ident.to_string());
        }
    }
    let mut receiver = None;
    let mut params = Vec::new();
    for (index, arg) in sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) => {
                receiver = Some(match &*r.ty {
                    Type::Reference(_) => {
                        let mut ty = (*r.ty).clone();
                        EraseLifetimes(&fn_lifetimes).visit_type_mut(&mut ty);
                        Receiver::ByRef { ty }
                    }
                    _ => Receiver::ByValue {
                        ty: (*r.ty).clone(),
                    },
                });
            }
            FnArg::Typed(pt) => {
                let ty = (*pt.ty).clone();
                let referent = match &ty {
                    Type::Reference(r) => Some((*r.elem).clone()),
                    _ => None,
                };
                let ident = match &*pt.pat {
                    Pat::Ident(p) if p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("__memocache_arg{}", index),
                };
                params.push(Param {
                    ident,
                    ty,
                    referent,
                });
            }
        }
    }

    // --- names and paths -------------------------------------------------------------------
    let in_impl = receiver.is_some()
        || mentions_self_type(sig.inputs.to_token_stream())
        || mentions_self_type(sig.output.to_token_stream())
        || mentions_self_type(item.block.to_token_stream());
    let body_name = format_ident!("__memocache_{}", name_str);
    let handle_name = format_ident!("{}_memo", name_str);
    // A free function's body is nested in the wrapper; a method's is a sibling. The handle is
    // always a sibling: for an associated function the macro took for a free one, the error
    // is on the function's name, and the compiler suggests `Self::<name>_memo`.
    let (body_path, handle_path) = if in_impl {
        (quote!(Self::#body_name), quote!(Self::#handle_name))
    } else {
        let on_name = format_ident!("{}_memo", name_str, span = name.span());
        (quote!(#body_name), quote!(#on_name))
    };
    let display_name = if in_impl {
        quote!(::std::format!("{}::{}", ::std::any::type_name::<Self>(), #name_str))
    } else {
        quote!(::std::string::String::from(
            ::core::concat!(::core::module_path!(), "::", #name_str)
        ))
    };

    // --- types -----------------------------------------------------------------------------
    let (value_ty, output_ty) = match &out {
        Output::Fallible { ok, err } => (
            (**ok).clone(),
            quote!(::core::result::Result<#ok, ::memocache::Error<#err>>),
        ),
        Output::Plain { ty } => ((**ty).clone(), ty.to_token_stream()),
    };
    let owned_ty = |p: &Param| -> TokenStream {
        match &p.referent {
            Some(t) => quote_spanned!(p.ty.span()=> <#t as ::std::borrow::ToOwned>::Owned),
            None => p.ty.to_token_stream(),
        }
    };
    let tuple = |parts: Vec<TokenStream>| match parts.len() {
        0 => quote!(()),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => quote!((#(#parts,)*)),
    };
    let key_ty = match &options.key {
        Some(k) => k.ty.to_token_stream(),
        None => tuple(params.iter().map(owned_ty).collect()),
    };

    // Compile-time checks of the types, on the user's tokens, with messages that say what to
    // do (`__private`'s traits carry them). The helpers the expansion calls are bounded by the
    // same traits, so the follow-up errors say the same thing.
    let mut checks = Vec::new();
    match &options.key {
        Some(k) => {
            let ty = &k.ty;
            checks.push(quote_spanned!(ty.span()=> ::memocache::__private::assert_key::<#ty>();));
        }
        None => {
            for p in &params {
                let ty = &p.ty;
                checks.push(match &p.referent {
                    Some(t) => quote_spanned!(ty.span()=>
                        ::memocache::__private::assert_key_reference::<#t>();),
                    None => quote_spanned!(ty.span()=>
                        ::memocache::__private::assert_key_argument::<#ty>();),
                });
            }
        }
    }
    match &out {
        Output::Fallible { ok, err } => {
            checks.push(quote_spanned!(ok.span()=> ::memocache::__private::assert_value::<#ok>();));
            checks
                .push(quote_spanned!(err.span()=> ::memocache::__private::assert_error::<#err>();));
        }
        Output::Plain { ty } => {
            let span = match &sig.output {
                ReturnType::Type(_, t) => t.span(),
                ReturnType::Default => name.span(),
            };
            checks.push(quote_spanned!(span=> ::memocache::__private::assert_value::<#ty>();));
        }
    }

    // --- the key ---------------------------------------------------------------------------
    let default_key = |ps: &[Param]| -> TokenStream {
        let part = |p: &Param| {
            let id = &p.ident;
            match &p.referent {
                Some(_) => quote_spanned!(p.ty.span()=> ::std::borrow::ToOwned::to_owned(#id)),
                None => quote_spanned!(p.ty.span()=> ::core::clone::Clone::clone(&#id)),
            }
        };
        match ps {
            [] => quote!(()),
            [one] => part(one),
            many => {
                let parts = many.iter().map(part);
                quote!((#(#parts,)*))
            }
        }
    };
    let key_expr = match &options.key {
        Some(k) => k.expr.to_token_stream(),
        None => default_key(&params),
    };
    let self_in_key = options
        .key
        .as_ref()
        .is_some_and(|k| mentions_self_value(k.expr.to_token_stream()));
    let self_ident = format_ident!("__memocache_self");

    // The handle's key function: `fn(<receiver if the key uses it>, <arguments>) -> K`.
    let mut key_fn_tys = Vec::new();
    let mut key_fn_pats = Vec::new();
    if self_in_key {
        if let Some(Receiver::ByRef { ty } | Receiver::ByValue { ty }) = &receiver {
            key_fn_tys.push(ty.to_token_stream());
            key_fn_pats.push(self_ident.to_token_stream());
        }
    }
    for p in &params {
        let mut ty = p.ty.clone();
        EraseLifetimes(&fn_lifetimes).visit_type_mut(&mut ty);
        key_fn_tys.push(ty.to_token_stream());
        key_fn_pats.push(p.ident.to_token_stream());
    }
    let key_fn_expr = rename_self(key_expr.clone(), &self_ident);
    let key_fn_ty = quote!(fn(#(#key_fn_tys),*) -> #key_ty);

    // --- the handle: its static cache ------------------------------------------------------
    let cache_init = match &options.cache {
        Some(shared) => {
            let e = &shared.value;
            quote_spanned! {e.span()=>
                let __memocache_cache: &'static ::memocache::Cache<#key_ty, #value_ty> = &*(#e);
            }
        }
        None => {
            let builder = match &options.config {
                Some(c) => quote_spanned!(c.span()=> #c),
                None => quote!(::core::default::Default::default()),
            };
            let dur = |d: Option<std::time::Duration>| match d {
                Some(d) => {
                    let (s, n) = (d.as_secs(), d.subsec_nanos());
                    quote!(::core::option::Option::Some(::core::time::Duration::new(#s, #n)))
                }
                None => quote!(::core::option::Option::None),
            };
            let opt = |v: Option<TokenStream>| match v {
                Some(v) => quote!(::core::option::Option::Some(#v)),
                None => quote!(::core::option::Option::None),
            };
            let name = match (&options.name, &options.config) {
                (Some(n), _) => opt(Some(quote!(::std::string::String::from(#n)))),
                (None, None) => opt(Some(display_name.clone())),
                (None, Some(_)) => opt(None),
            };
            let capacity = opt(options.capacity.as_ref().map(|c| {
                let v = c.value;
                quote!(#v)
            }));
            let max_hits = opt(options.max_hits.as_ref().map(|c| {
                let v = c.value;
                quote!(#v)
            }));
            let update_after = dur(options.update_after.as_ref().map(|d| d.value));
            let expire_after = dur(options.expire_after.as_ref().map(|d| d.value));
            let timeout = match (&out, &options.timeout) {
                (Output::Plain { .. }, _) => {
                    quote!(::core::option::Option::Some(
                        ::memocache::__private::NO_TIMEOUT
                    ))
                }
                (Output::Fallible { .. }, t) => dur(t.as_ref().map(|t| t.value)),
            };
            quote! {
                static __MEMOCACHE_CACHE: ::std::sync::OnceLock<::memocache::Cache<#key_ty, #value_ty>> =
                    ::std::sync::OnceLock::new();
                let __memocache_cache: &'static ::memocache::Cache<#key_ty, #value_ty> =
                    __MEMOCACHE_CACHE.get_or_init(|| {
                        let __memocache_builder: ::memocache::CacheBuilder<#key_ty, #value_ty> = #builder;
                        ::memocache::__private::build(
                            __memocache_builder,
                            ::memocache::__private::Settings {
                                name: #name,
                                capacity: #capacity,
                                update_after: #update_after,
                                expire_after: #expire_after,
                                method_timeout: #timeout,
                                max_hits: #max_hits,
                            },
                            || #display_name,
                        )
                    });
            }
        }
    };

    // --- attributes --------------------------------------------------------------------------
    let cfgs: Vec<&Attribute> = item.attrs.iter().filter(|a| is_cfg_attr(a)).collect();
    let wrapper_attrs: Vec<&Attribute> = item
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("expect"))
        .collect();
    let body_attrs: Vec<&Attribute> = item
        .attrs
        .iter()
        .filter(|a| is_cfg_attr(a) || is_lint_attr(a) || a.path().is_ident("expect"))
        .collect();
    let has_docs = item.attrs.iter().any(|a| a.path().is_ident("doc"));
    let result_note = match (&out, has_docs) {
        (Output::Fallible { ok, err }, true) => {
            let note = format!(
                " *Memoized with `#[memoize]`: returns `Result<{}, memocache::Error<{}>>`.*",
                ok.to_token_stream(),
                err.to_token_stream()
            );
            quote!(#[doc = ""] #[doc = #note])
        }
        _ => quote!(),
    };

    // --- the wrapper ---------------------------------------------------------------------------
    let vis = &item.vis;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let wrapper_receiver = match &receiver {
        None => quote!(),
        Some(_) => {
            let FnArg::Receiver(r) = &sig.inputs[0] else {
                unreachable!("a receiver comes first")
            };
            let mut r = r.clone();
            r.mutability = None;
            r.attrs.clear();
            quote!(#r,)
        }
    };
    let wrapper_params = params.iter().map(|p| {
        let (id, ty) = (&p.ident, &p.ty);
        quote!(#id: #ty)
    });
    let owned_idents: Vec<Ident> = (0..params.len())
        .map(|i| format_ident!("__memocache_owned{}", i))
        .collect();
    let take_owned = params.iter().zip(&owned_idents).map(|(p, o)| {
        let id = &p.ident;
        match &p.referent {
            Some(_) => {
                quote_spanned!(p.ty.span()=> let #o = ::std::borrow::ToOwned::to_owned(#id);)
            }
            None => quote!(let #o = #id;),
        }
    });
    let call_args = params
        .iter()
        .zip(&owned_idents)
        .map(|(p, o)| match &p.referent {
            Some(_) => quote!(::core::borrow::Borrow::borrow(&#o)),
            None => quote!(#o),
        });
    let (take_self, self_arg) = match &receiver {
        None => (quote!(), quote!()),
        Some(Receiver::ByRef { .. }) => {
            let span = sig.inputs[0].span();
            (
                quote_spanned!(span=> let #self_ident = ::core::clone::Clone::clone(self);),
                quote!(&#self_ident,),
            )
        }
        Some(Receiver::ByValue { .. }) => (quote!(let #self_ident = self;), quote!(#self_ident,)),
    };
    let body_call = quote!(#body_path(#self_arg #(#call_args),*).await);
    let call = match &out {
        Output::Fallible { .. } => quote! {
            ::memocache::__private::load(__memocache_cache, __memocache_key, __memocache_load).await
        },
        Output::Plain { .. } => quote! {
            ::memocache::__private::load_plain(__memocache_cache, __memocache_key, __memocache_load).await
        },
    };

    // --- the body ------------------------------------------------------------------------------
    let mut body_fn = item.clone();
    body_fn.sig.ident = body_name.clone();
    body_fn.vis = syn::Visibility::Inherited;
    body_fn.attrs = body_attrs.into_iter().cloned().collect();

    let (nested_body, sibling_body) = if in_impl {
        (quote!(), quote!(#[doc(hidden)] #body_fn))
    } else {
        (quote!(#body_fn), quote!())
    };

    let handle_doc = format!(
        " The `#[memoize]` handle of `{name_str}`: its cache, statistics and invalidation \
         (`invalidate(args)` takes the arguments of `{name_str}` as a tuple)."
    );

    Ok(quote! {
        #(#wrapper_attrs)*
        #result_note
        #vis async fn #name #generics (#wrapper_receiver #(#wrapper_params),*) -> #output_ty #where_clause {
            #[allow(clippy::let_unit_value)]
            let __memocache_key: #key_ty = #key_expr;
            let __memocache_cache: &'static ::memocache::Cache<#key_ty, #value_ty> =
                ::memocache::__private::cache_of(&#handle_path());
            // Builds the 'static loader; the cache calls it only on a miss or a due refresh,
            // so a hit copies no argument.
            let __memocache_load = move || {
                #take_self
                #(#take_owned)*
                move || async move { #body_call }
            };
            #nested_body
            #call
        }

        #sibling_body

        #(#cfgs)*
        #[doc = #handle_doc]
        #vis fn #handle_name() -> ::memocache::Memo<#key_ty, #value_ty, #key_fn_ty> {
            #(#checks)*
            #cache_init
            #[allow(unused_variables, clippy::redundant_clone, clippy::unused_unit)]
            let __memocache_key_fn: #key_fn_ty = |#(#key_fn_pats),*| -> #key_ty { #key_fn_expr };
            ::memocache::__private::memo(__memocache_cache, __memocache_key_fn)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_value_is_told_from_self_paths() {
        let ts = |s: &str| s.parse::<TokenStream>().unwrap();
        assert!(mentions_self_value(ts("(self.id, n)")));
        assert!(mentions_self_value(ts("format!(\"{}\", self.name)")));
        assert!(!mentions_self_value(ts("self::helper(n)")));
        assert!(!mentions_self_value(ts("Self::helper(n)")));
        assert!(mentions_self_type(ts("Self::helper(n)")));
        assert!(!mentions_self_type(ts("(self.id, n)")));

        let renamed = rename_self(ts("(self.id, self::f(self))"), &format_ident!("this"));
        assert_eq!(renamed.to_string(), "(this . id , self :: f (this))");
    }

    #[test]
    fn fn_lifetimes_are_erased_from_argument_types() {
        let mut ty: Type = syn::parse_str("&'a Cow<'a, str>").unwrap();
        let declared: HashSet<String> = ["a".to_string()].into();
        EraseLifetimes(&declared).visit_type_mut(&mut ty);
        assert_eq!(ty.to_token_stream().to_string(), "& '_ Cow < '_ , str >");
        let mut kept: Type = syn::parse_str("&'b str").unwrap();
        EraseLifetimes(&declared).visit_type_mut(&mut kept);
        assert_eq!(kept.to_token_stream().to_string(), "& 'b str");
    }
}
