//! `#[node]`: an inherent `impl` block with `async fn load(&self)` (and optionally
//! `async fn load_all(nodes: Vec<Self>)`) becomes an implementation of `memocache::node::Node`,
//! its key text and options written in the attribute.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, ImplItem, ItemImpl, Lit, LitStr, Meta, Token, Type};

use crate::duration;

/// The attribute's options.
#[derive(Default)]
struct NodeAttr {
    key: Option<LitStr>,
    name: Option<LitStr>,
    /// Builder calls on `NodeOptions`, in order.
    calls: Vec<TokenStream>,
    base: Option<syn::Path>,
}

fn duration_of(lit: &LitStr) -> syn::Result<TokenStream> {
    let d = duration::parse(&lit.value()).map_err(|m| syn::Error::new(lit.span(), m))?;
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    Ok(quote!(::std::time::Duration::new(#secs, #nanos)))
}

fn str_of(expr: &Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

fn int_of(expr: &Expr) -> syn::Result<syn::LitInt> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => Ok(i.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            "expected an integer literal",
        )),
    }
}

/// `ttl = "…"` (or nothing) in `memory(…)` (which also takes `capacity`) and `tier(…)`.
fn ttl_of(args: &Punctuated<Meta, Token![,]>, capacity_allowed: bool) -> syn::Result<TokenStream> {
    for meta in args {
        if let Meta::NameValue(nv) = meta {
            if nv.path.is_ident("ttl") {
                let d = duration_of(&str_of(&nv.value)?)?;
                return Ok(quote!(::std::option::Option::Some(#d)));
            }
        }
        if !(capacity_allowed
            && matches!(meta, Meta::NameValue(nv) if nv.path.is_ident("capacity")))
        {
            return Err(syn::Error::new_spanned(meta, "expected `ttl = \"…\"`"));
        }
    }
    Ok(quote!(::std::option::Option::None))
}

/// `tier("storage", ttl = "10d")`.
struct TierArgs {
    storage: LitStr,
    rest: Punctuated<Meta, Token![,]>,
}

impl Parse for TierArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let storage = input.parse()?;
        let rest = if input.is_empty() {
            Punctuated::new()
        } else {
            input.parse::<Token![,]>()?;
            Punctuated::parse_terminated(input)?
        };
        Ok(TierArgs { storage, rest })
    }
}

impl Parse for NodeAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut attr = NodeAttr::default();
        let (mut window, mut max_batch) = (None, None);
        for meta in metas {
            let name = meta
                .path()
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match (&meta, name.as_str()) {
                (Meta::NameValue(nv), "key") => attr.key = Some(str_of(&nv.value)?),
                (Meta::NameValue(nv), "name") => attr.name = Some(str_of(&nv.value)?),
                (Meta::NameValue(nv), "version") => {
                    let v = str_of(&nv.value)?;
                    attr.calls.push(quote!(version(#v)));
                }
                (Meta::NameValue(nv), "options") => match &nv.value {
                    Expr::Path(p) => attr.base = Some(p.path.clone()),
                    other => {
                        return Err(syn::Error::new_spanned(other, "expected a function's path"))
                    }
                },
                (Meta::List(list), "memory") => {
                    let args =
                        list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
                    let mut capacity = None;
                    for m in &args {
                        if let Meta::NameValue(nv) = m {
                            if nv.path.is_ident("capacity") {
                                capacity = Some(int_of(&nv.value)?);
                            }
                        }
                    }
                    let capacity = capacity.ok_or_else(|| {
                        syn::Error::new_spanned(list, "`memory(capacity = N, ttl = \"…\")`")
                    })?;
                    let ttl = ttl_of(&args, true)?;
                    attr.calls.push(quote!(memory(#capacity, #ttl)));
                }
                (Meta::List(list), "tier") => {
                    let args: TierArgs = list.parse_args()?;
                    let (storage, ttl) = (args.storage, ttl_of(&args.rest, false)?);
                    attr.calls.push(quote!(tier(#storage, #ttl)));
                }
                (Meta::NameValue(nv), "update_after" | "expire_after") => {
                    let d = duration_of(&str_of(&nv.value)?)?;
                    let method = Ident::new(&name, Span::call_site());
                    attr.calls.push(quote!(#method(#d)));
                }
                (Meta::NameValue(nv), "timeout") => {
                    let d = duration_of(&str_of(&nv.value)?)?;
                    attr.calls.push(quote!(method_timeout(#d)));
                }
                (Meta::NameValue(nv), "policy") => {
                    let p = str_of(&nv.value)?;
                    let policy = match p.value().as_str() {
                        "lru" => quote!(::memocache::EvictionPolicy::Lru),
                        "tinylfu" => {
                            quote!(::memocache::EvictionPolicy::WTinyLfu { doorkeeper: false })
                        }
                        "least-recently-updated" => {
                            quote!(::memocache::EvictionPolicy::LeastRecentlyUpdated)
                        }
                        _ => {
                            return Err(syn::Error::new_spanned(
                                p,
                                "expected \"lru\", \"tinylfu\" or \"least-recently-updated\"",
                            ))
                        }
                    };
                    attr.calls.push(quote!(policy(#policy)));
                }
                (Meta::Path(_), "doorkeeper") => attr.calls.push(quote!(doorkeeper(true))),
                (Meta::NameValue(nv), "batch_window") => {
                    window = Some(duration_of(&str_of(&nv.value)?)?)
                }
                (Meta::NameValue(nv), "max_batch") => max_batch = Some(int_of(&nv.value)?),
                _ => {
                    return Err(syn::Error::new_spanned(
                        &meta,
                        "unknown option: expected `key`, `name`, `version`, `memory(…)`, \
                         `tier(…)`, `update_after`, `expire_after`, `timeout`, `policy`, \
                         `doorkeeper`, `batch_window`, `max_batch` or `options`",
                    ))
                }
            }
        }
        match (window, max_batch) {
            (Some(w), max) => {
                let max = max.map_or(quote!(1024usize), |m| m.to_token_stream());
                attr.calls.push(quote!(batch_window(#w, #max)));
            }
            (None, Some(m)) => {
                return Err(syn::Error::new_spanned(
                    m,
                    "`max_batch` needs a `batch_window`",
                ))
            }
            (None, None) => {}
        }
        Ok(attr)
    }
}

/// The `{field}` placeholders of the key text, in order.
fn placeholders(key: &LitStr) -> syn::Result<Vec<Ident>> {
    let text = key.value();
    let mut out: Vec<Ident> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
            }
            '{' => {
                let end = text[i..]
                    .find('}')
                    .ok_or_else(|| syn::Error::new(key.span(), "unclosed `{` in the key text"))?;
                let inner = &text[i + 1..i + end];
                let field = inner.split(':').next().unwrap_or_default();
                let ident = syn::parse_str::<Ident>(field).map_err(|_| {
                    syn::Error::new(key.span(), format!("`{{{inner}}}`: expected a field name"))
                })?;
                if !out.contains(&ident) {
                    out.push(ident);
                }
                while chars.peek().is_some_and(|p| p.0 < i + end + 1) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `Result<V, E>`'s two types.
fn result_types(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    Some((types.next()?, types.next()?))
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let attr: NodeAttr = syn::parse2(attr)?;
    let block: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "`#[node]` applies to an inherent `impl` block with `async fn load(&self)`",
        )
    })?;
    if block.trait_.is_some() || !block.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            "`#[node]` applies to an inherent `impl` block of a type without generics",
        ));
    }
    let ty = &block.self_ty;
    let fns: Vec<&syn::ImplItemFn> = block
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(f),
            _ => None,
        })
        .collect();
    let load = fns.iter().find(|f| f.sig.ident == "load").ok_or_else(|| {
        syn::Error::new_spanned(ty, "the block needs `async fn load(&self) -> Result<V, E>`")
    })?;
    if load.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            &load.sig,
            "`load` must be an `async fn`",
        ));
    }
    let syn::ReturnType::Type(_, ret) = &load.sig.output else {
        return Err(syn::Error::new_spanned(
            &load.sig,
            "`load` must return `Result<V, E>`",
        ));
    };
    let (value, error) = result_types(ret).ok_or_else(|| {
        syn::Error::new_spanned(ret, "`load` must return `Result<V, E>`, written so")
    })?;
    let key = attr.key.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "`#[node]` needs `key = \"…\"`: the key text with `{field}` placeholders, unique \
             across node types (for example \"user:{id}:info\")",
        )
    })?;
    let fields = placeholders(&key)?;
    let name = match attr.name {
        Some(n) => n,
        None => {
            let text = ty.to_token_stream().to_string().replace(' ', "");
            LitStr::new(&text, Span::call_site())
        }
    };
    let load_all = fns.iter().find(|f| f.sig.ident == "load_all").map(|_| {
        quote! {
            fn load_all(
                nodes: ::std::vec::Vec<Self>,
            ) -> impl ::std::future::Future<
                Output = impl ::memocache::BatchResult<Self, #value, Error = #error>,
            > + ::std::marker::Send {
                <#ty>::load_all(nodes)
            }
        }
    });
    let base = match &attr.base {
        Some(path) => quote!(#path()),
        None => quote!(::memocache::node::NodeOptions::new()),
    };
    let calls = &attr.calls;
    Ok(quote! {
        #block

        impl ::memocache::node::Node for #ty {
            type Value = #value;
            type Error = #error;

            fn name() -> &'static str {
                #name
            }

            fn key(&self) -> ::std::string::String {
                ::std::format!(#key, #(#fields = ::memocache::__private::key_part(&self.#fields)),*)
            }

            fn load(
                &self,
            ) -> impl ::std::future::Future<Output = ::std::result::Result<#value, #error>>
                   + ::std::marker::Send {
                <#ty>::load(self)
            }

            #load_all

            fn options() -> ::memocache::node::NodeOptions {
                #base #(.#calls)*
            }
        }

        ::memocache::__private::inventory::submit! {
            ::memocache::__private::DeclaredNode(::memocache::__private::node_info::<#ty>)
        }
    })
}
