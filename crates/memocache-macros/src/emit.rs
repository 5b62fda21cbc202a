//! The items written in place of the function: the wrapper with its name and arguments, the
//! hidden body `__memocache_<name>` (nested in the wrapper, or a sibling for a method), and
//! the handle `<name>_memo()` that owns the static `OnceLock<Cache>`, with the compile-time
//! checks of the key and value types, how each item reaches the others, and which of the
//! function's attributes each item gets.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ItemFn, ReturnType, Type};

use crate::options::Options;
use crate::params::{mentions_self_type, Args};
use crate::validate::Output;

/// How the three items are named and reach each other.
struct Names {
    /// Whether the function is taken for an associated one (it has a receiver or mentions
    /// `Self`): the wrapper then reaches the body and the handle through `Self::`.
    in_impl: bool,
    /// The function's name as a string, without `r#`.
    name_str: String,
    body_name: Ident,
    handle_name: Ident,
    /// The hidden function that owns the function's [`Scope`] in a shared cache.
    scope_name: Ident,
    body_path: TokenStream,
    handle_path: TokenStream,
    scope_path: TokenStream,
    /// An expression for the cache's name: the function's path.
    display_name: TokenStream,
}

fn names(item: &ItemFn, args: &Args) -> Names {
    let sig = &item.sig;
    let name = &sig.ident;
    let name_str = name.unraw().to_string();
    let in_impl = args.has_receiver()
        || mentions_self_type(sig.inputs.to_token_stream())
        || mentions_self_type(sig.output.to_token_stream())
        || mentions_self_type(item.block.to_token_stream());
    let body_name = format_ident!("__memocache_{}", name_str);
    let handle_name = format_ident!("{}_memo", name_str);
    let scope_name = format_ident!("__memocache_scope_{}", name_str);
    // A free function's body is nested in the wrapper; a method's is a sibling. The handle is
    // always a sibling: for an associated function the macro took for a free one, the error
    // is on the function's name, and the compiler suggests `Self::<name>_memo`.
    let (body_path, handle_path, scope_path) = if in_impl {
        (
            quote!(Self::#body_name),
            quote!(Self::#handle_name),
            quote!(Self::#scope_name),
        )
    } else {
        let on_name = format_ident!("{}_memo", name_str, span = name.span());
        (quote!(#body_name), quote!(#on_name), quote!(#scope_name))
    };
    let display_name = if in_impl {
        quote!(::std::format!("{}::{}", ::std::any::type_name::<Self>(), #name_str))
    } else {
        quote!(::std::string::String::from(
            ::core::concat!(::core::module_path!(), "::", #name_str)
        ))
    };
    Names {
        in_impl,
        name_str,
        body_name,
        handle_name,
        scope_name,
        body_path,
        handle_path,
        scope_path,
        display_name,
    }
}

/// With `node = expr`: the wrapper asks the node's chain (`memocache::node::get_with`), the
/// body is the loader; no handle (the node type's operations and statistics serve instead).
fn node_items(node: &syn::Expr, item: &ItemFn, out: &Output, args: &Args) -> TokenStream {
    let sig = &item.sig;
    let names = names(item, args);
    let Output::Fallible { ok, err } = out else {
        unreachable!("checked: `node` needs a `Result`")
    };
    let wrapper_attrs = item.attrs.iter().filter(|a| !a.path().is_ident("expect"));
    let (name, vis, generics) = (&sig.ident, &item.vis, &sig.generics);
    let where_clause = &sig.generics.where_clause;
    let wrapper_inputs = args.wrapper_inputs(sig);
    let loader = args.loader(sig, &names.body_path);
    let clones = args.shadow_clones();
    let (nested_body, sibling_body) = body(item, &names);
    quote! {
        #(#wrapper_attrs)*
        #vis async fn #name #generics (#wrapper_inputs)
            -> ::core::result::Result<#ok, ::memocache::Error<#err>> #where_clause
        {
            let __memocache_node = { #clones #node };
            let __memocache_load = #loader;
            #nested_body
            ::memocache::__private::load_node(&__memocache_node, __memocache_load).await
        }

        #sibling_body
    }
}

/// The wrapper, the body and the handle of `item`, whose signature passed the checks.
pub(crate) fn items(options: &Options, item: &ItemFn, out: &Output, args: &Args) -> TokenStream {
    if let Some(node) = &options.node {
        return node_items(&node.value, item, out, args);
    }
    let sig = &item.sig;
    let names = names(item, args);
    let Names {
        name_str,
        handle_name,
        handle_path,
        display_name,
        ..
    } = &names;

    // --- types -----------------------------------------------------------------------------
    let (value_ty, output_ty) = match out {
        Output::Fallible { ok, err } => (
            (**ok).clone(),
            quote!(::core::result::Result<#ok, ::memocache::Error<#err>>),
        ),
        Output::Plain { ty } => ((**ty).clone(), ty.to_token_stream()),
    };
    let key = args.key(options.key.as_ref());
    let key_ty = &key.ty;
    let key_expr = &key.expr;
    let key_fn_pats = &key.fn_pats;
    let shared = options.cache.is_some();
    let scope_path = &names.scope_path;
    // In a shared cache the key is `Scoped<K>`: the function's scope, then its key.
    let (cache_key_ty, key_expr, key_fn_expr) = if shared {
        let fn_expr = &key.fn_expr;
        (
            quote!(::memocache::Scoped<#key_ty>),
            quote!(::memocache::Scoped::new(#scope_path(), #key_expr)),
            quote!(::memocache::Scoped::new(#scope_path(), { #fn_expr })),
        )
    } else {
        (key_ty.clone(), key_expr.clone(), key.fn_expr.clone())
    };
    let key_fn_inputs = &key.fn_inputs;
    let key_fn_ty = quote!(fn(#(#key_fn_inputs),*) -> #cache_key_ty);
    let tagging = tagging(options, args, key_ty);

    // Compile-time checks of the types, on the user's tokens, with messages that say what to
    // do (`__private`'s traits carry them). The helpers the expansion calls are bounded by the
    // same traits, so the follow-up errors say the same thing.
    let mut checks = args.key_checks(options.key.as_ref());
    checks.extend(value_checks(item, out));

    let cache_init = cache_init(options, out, key_ty, &value_ty, &names, &tagging);
    let scope_fn = scope_fn(options, &names, key_ty, &tagging, &item.attrs);

    // --- attributes --------------------------------------------------------------------------
    let cfgs: Vec<&Attribute> = item.attrs.iter().filter(|a| is_cfg_attr(a)).collect();
    let wrapper_attrs: Vec<&Attribute> = item
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("expect"))
        .collect();
    let result_note = result_note(item, out);

    // --- the wrapper ---------------------------------------------------------------------------
    let name = &sig.ident;
    let vis = &item.vis;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let wrapper_inputs = args.wrapper_inputs(sig);
    let loader = args.loader(sig, &names.body_path);
    let call = match out {
        Output::Fallible { .. } => quote! {
            ::memocache::__private::load(__memocache_cache, __memocache_key, __memocache_load).await
        },
        Output::Plain { .. } => quote! {
            ::memocache::__private::load_plain(__memocache_cache, __memocache_key, __memocache_load).await
        },
    };

    // --- the body ------------------------------------------------------------------------------
    let (nested_body, sibling_body) = body(item, &names);

    let handle_doc = format!(
        " The `#[memoize]` handle of `{name_str}`: its cache, statistics and invalidation \
         (`invalidate(args)` takes the arguments of `{name_str}` as a tuple)."
    );

    quote! {
        #(#wrapper_attrs)*
        #result_note
        #vis async fn #name #generics (#wrapper_inputs) -> #output_ty #where_clause {
            #[allow(clippy::let_unit_value)]
            let __memocache_key: #cache_key_ty = #key_expr;
            let __memocache_cache: &'static ::memocache::Cache<#cache_key_ty, #value_ty> =
                ::memocache::__private::cache_of(&#handle_path());
            let __memocache_load = #loader;
            #nested_body
            #call
        }

        #sibling_body

        #scope_fn

        #(#cfgs)*
        #[doc = #handle_doc]
        #vis fn #handle_name() -> ::memocache::Memo<#cache_key_ty, #value_ty, #key_fn_ty> {
            #(#checks)*
            #cache_init
            static __MEMOCACHE_NAME: ::std::sync::OnceLock<::std::string::String> =
                ::std::sync::OnceLock::new();
            let __memocache_name: &'static str = __MEMOCACHE_NAME.get_or_init(|| #display_name);
            #[allow(unused_variables, clippy::redundant_clone, clippy::unused_unit)]
            let __memocache_key_fn: #key_fn_ty =
                |#(#key_fn_pats),*| -> #cache_key_ty { #key_fn_expr };
            ::memocache::__private::memo(
                __memocache_cache,
                __memocache_key_fn,
                __memocache_name,
                #shared,
            )
        }
    }
}

/// The compile-time checks that the value (and error) types can be cached.
fn value_checks(item: &ItemFn, out: &Output) -> Vec<TokenStream> {
    match out {
        Output::Fallible { ok, err } => vec![
            quote_spanned!(ok.span()=> ::memocache::__private::assert_value::<#ok>();),
            quote_spanned!(err.span()=> ::memocache::__private::assert_error::<#err>();),
        ],
        Output::Plain { ty } => {
            let span = match &item.sig.output {
                ReturnType::Type(_, t) => t.span(),
                ReturnType::Default => item.sig.ident.span(),
            };
            vec![quote_spanned!(span=> ::memocache::__private::assert_value::<#ty>();)]
        }
    }
}

/// The body: the function as written, renamed, private, with only its `cfg`, lint and
/// `expect` attributes. Returns it as `(nested in the wrapper, sibling of the wrapper)`.
fn body(item: &ItemFn, names: &Names) -> (TokenStream, TokenStream) {
    let body_attrs: Vec<&Attribute> = item
        .attrs
        .iter()
        .filter(|a| is_cfg_attr(a) || is_lint_attr(a) || a.path().is_ident("expect"))
        .collect();
    let mut body_fn = item.clone();
    body_fn.sig.ident = names.body_name.clone();
    body_fn.vis = syn::Visibility::Inherited;
    body_fn.attrs = body_attrs.into_iter().cloned().collect();

    if names.in_impl {
        (quote!(), quote!(#[doc(hidden)] #body_fn))
    } else {
        (quote!(#body_fn), quote!())
    }
}

/// For a documented function returning `Result`, a doc line giving the wrapper's return type.
fn result_note(item: &ItemFn, out: &Output) -> TokenStream {
    let has_docs = item.attrs.iter().any(|a| a.path().is_ident("doc"));
    match (out, has_docs) {
        (Output::Fallible { ok, err }, true) => {
            let note = format!(
                " *Memoized with `#[memoize]`: returns `Result<{}, memocache::Error<{}>>`.*",
                ok.to_token_stream(),
                err.to_token_stream()
            );
            quote!(#[doc = ""] #[doc = #note])
        }
        _ => quote!(),
    }
}

/// The handle's statements that bind `__memocache_cache`: the shared `cache = ...`, or a
/// static `OnceLock<Cache>` built on first use from `config = ...` and the other options.
fn cache_init(
    options: &Options,
    out: &Output,
    key_ty: &TokenStream,
    value_ty: &Type,
    names: &Names,
    tagging: &TokenStream,
) -> TokenStream {
    let display_name = &names.display_name;
    if let Some(shared) = &options.cache {
        let e = &shared.value;
        let scope_path = &names.scope_path;
        let cache = quote_spanned! {e.span()=>
            let __memocache_cache: &'static ::memocache::Cache<::memocache::Scoped<#key_ty>, #value_ty> = &*(#e);
        };
        return quote! {
            #cache
            static __MEMOCACHE_JOINED: ::std::sync::Once = ::std::sync::Once::new();
            __MEMOCACHE_JOINED.call_once(|| __memocache_cache.join_scope(#scope_path()));
        };
    }
    let builder = match &options.config {
        Some(c) if tagging.is_empty() => quote_spanned!(c.span()=> #c),
        Some(c) => quote_spanned!(c.span()=> (#c) #tagging),
        None => quote!(::memocache::CacheBuilder::<#key_ty, #value_ty>::default() #tagging),
    };
    // `storage = "name"`: a tier over the registered storage, resolved on first use.
    let builder = match &options.storage {
        Some(name) => {
            quote_spanned!(name.span()=> ::memocache::__private::with_storage(#builder, #name))
        }
        None => builder,
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
    let timeout = match (out, &options.timeout) {
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

/// The builder calls that give entries their zone and dependencies: `.zone(..)`,
/// `.zone_key(..)`, `.tags(..)` (a `CacheBuilder`'s or a `Scope`'s), with the arguments (or
/// `key`) bound by reference from the key.
fn tagging(options: &Options, args: &Args, key_ty: &TokenStream) -> TokenStream {
    let bind = args.key_bindings(options.key.as_ref());
    let zone = options
        .zone
        .as_ref()
        .map(|z| quote_spanned!(z.span()=> .zone(&(#z))));
    let zone_key = options.zone_key.as_ref().map(|e| {
        quote_spanned! {e.span()=>
            .zone_key(move |__memocache_k: &#key_ty| -> ::std::string::String {
                #bind
                ::std::string::ToString::to_string(&(#e))
            })
        }
    });
    let tags = options.tags.as_ref().map(|tags| {
        quote! {
            .tags(move |__memocache_k: &#key_ty| -> ::std::vec::Vec<::memocache::Tag> {
                #bind
                ::std::vec![#(::memocache::Tag::new(&(#tags))),*]
            })
        }
    });
    quote!(#zone #zone_key #tags)
}

/// For a function in a shared cache: the hidden function that owns its [`Scope`] (named by
/// the function's path, with its zone and dependencies).
fn scope_fn(
    options: &Options,
    names: &Names,
    key_ty: &TokenStream,
    tagging: &TokenStream,
    attrs: &[Attribute],
) -> TokenStream {
    if options.cache.is_none() {
        return quote!();
    }
    let cfgs = attrs.iter().filter(|a| is_cfg_attr(a));
    let Names {
        scope_name,
        display_name,
        ..
    } = names;
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        fn #scope_name() -> &'static ::memocache::Scope<#key_ty> {
            static __MEMOCACHE_SCOPE: ::std::sync::OnceLock<::memocache::Scope<#key_ty>> =
                ::std::sync::OnceLock::new();
            __MEMOCACHE_SCOPE.get_or_init(|| ::memocache::Scope::new(#display_name) #tagging)
        }
    }
}

fn is_lint_attr(attr: &Attribute) -> bool {
    ["allow", "warn", "deny", "forbid"]
        .iter()
        .any(|n| attr.path().is_ident(n))
}

fn is_cfg_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr")
}
