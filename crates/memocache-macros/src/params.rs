//! The function's arguments, once the signature has passed the checks: the receiver and the
//! other arguments ([`Args`]), the key built from them (or from the `key:` option) in the
//! wrapper and in the handle's key function, the copies the wrapper moves into the `'static`
//! loader, and `self`: how it is taken, whether a key or signature mentions it, and its
//! renaming in the key function, which has no receiver.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, GenericParam, Ident, Lifetime, Pat, Signature, Type};

use crate::options::KeyOption;

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

/// The arguments of a function that passed the checks.
pub(crate) struct Args {
    receiver: Option<Receiver>,
    params: Vec<Param>,
    /// The lifetimes the function declares.
    fn_lifetimes: HashSet<String>,
}

/// The key, as the wrapper computes it and as the handle's key function does.
pub(crate) struct Key {
    /// `K`: the `key:` option's type, or the tuple of the arguments' owned types.
    pub(crate) ty: TokenStream,
    /// The wrapper's key expression.
    pub(crate) expr: TokenStream,
    /// The handle's key function, `fn(<receiver if the key uses it>, <arguments>) -> K`: its
    /// parameters...
    pub(crate) fn_pats: Vec<TokenStream>,
    /// ...and its body: the key expression with `self` renamed...
    pub(crate) fn_expr: TokenStream,
    /// ...and its parameter types.
    pub(crate) fn_inputs: Vec<TokenStream>,
}

/// The name of the receiver's copy in the loader and of the receiver in the key function.
fn self_ident() -> Ident {
    format_ident!("__memocache_self")
}

impl Args {
    /// The arguments of `sig`, which has passed [`crate::validate::signature`].
    pub(crate) fn of(sig: &Signature) -> Args {
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
        Args {
            receiver,
            params,
            fn_lifetimes,
        }
    }

    pub(crate) fn has_receiver(&self) -> bool {
        self.receiver.is_some()
    }

    /// The key's type, its expression in the wrapper, and the handle's key function.
    pub(crate) fn key(&self, option: Option<&KeyOption>) -> Key {
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
        let ty = match option {
            Some(k) => k.ty.to_token_stream(),
            None => tuple(self.params.iter().map(owned_ty).collect()),
        };
        let expr = match option {
            Some(k) => k.expr.to_token_stream(),
            None => self.default_key(),
        };
        let self_in_key = option.is_some_and(|k| mentions_self_value(k.expr.to_token_stream()));
        let self_ident = self_ident();

        let mut fn_tys = Vec::new();
        let mut fn_pats = Vec::new();
        if self_in_key {
            if let Some(Receiver::ByRef { ty } | Receiver::ByValue { ty }) = &self.receiver {
                fn_tys.push(ty.to_token_stream());
                fn_pats.push(self_ident.to_token_stream());
            }
        }
        for p in &self.params {
            let mut ty = p.ty.clone();
            EraseLifetimes(&self.fn_lifetimes).visit_type_mut(&mut ty);
            fn_tys.push(ty.to_token_stream());
            fn_pats.push(p.ident.to_token_stream());
        }
        let fn_expr = rename_self(expr.clone(), &self_ident);
        Key {
            ty,
            expr,
            fn_pats,
            fn_expr,
            fn_inputs: fn_tys,
        }
    }

    /// Statements that bind, from `__memocache_k: &K`, the names a `zone_key` or `tags`
    /// expression uses: each argument by reference (the default key is made of them), or
    /// `key` with a `key:` option.
    pub(crate) fn key_bindings(&self, option: Option<&KeyOption>) -> TokenStream {
        if option.is_some() {
            return quote!(let key = __memocache_k;);
        }
        let ids: Vec<&Ident> = self.params.iter().map(|p| &p.ident).collect();
        match ids.as_slice() {
            [] => quote!(let _ = __memocache_k;),
            [one] => quote!(#[allow(unused_variables)] let #one = __memocache_k;),
            many => quote!(#[allow(unused_variables)] let (#(#many,)*) = __memocache_k;),
        }
    }

    /// The key without a `key:` option: the arguments, cloned or (references) made owned.
    fn default_key(&self) -> TokenStream {
        let part = |p: &Param| {
            let id = &p.ident;
            match &p.referent {
                Some(_) => quote_spanned!(p.ty.span()=> ::std::borrow::ToOwned::to_owned(#id)),
                None => quote_spanned!(p.ty.span()=> ::core::clone::Clone::clone(&#id)),
            }
        };
        match self.params.as_slice() {
            [] => quote!(()),
            [one] => part(one),
            many => {
                let parts = many.iter().map(part);
                quote!((#(#parts,)*))
            }
        }
    }

    /// The compile-time checks that the key's types are keys, on the user's tokens.
    pub(crate) fn key_checks(&self, option: Option<&KeyOption>) -> Vec<TokenStream> {
        let mut checks = Vec::new();
        match option {
            Some(k) => {
                let ty = &k.ty;
                checks
                    .push(quote_spanned!(ty.span()=> ::memocache::__private::assert_key::<#ty>();));
            }
            None => {
                for p in &self.params {
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
        checks
    }

    /// The wrapper's arguments: the receiver (without `mut` and attributes), then the others
    /// under their wrapper names.
    /// `let <arg> = <arg>.clone();` for each argument: an expression evaluated after them
    /// (the `node = ...` option's) cannot move what the loader takes.
    pub(crate) fn shadow_clones(&self) -> TokenStream {
        let lets = self.params.iter().map(|p| {
            let id = &p.ident;
            quote!(#[allow(unused_variables, clippy::redundant_clone)] let #id = ::core::clone::Clone::clone(&#id);)
        });
        quote!(#(#lets)*)
    }

    pub(crate) fn wrapper_inputs(&self, sig: &Signature) -> TokenStream {
        let wrapper_receiver = match &self.receiver {
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
        let wrapper_params = self.params.iter().map(|p| {
            let (id, ty) = (&p.ident, &p.ty);
            quote!(#id: #ty)
        });
        quote!(#wrapper_receiver #(#wrapper_params),*)
    }

    /// The wrapper's loader, which copies the receiver and the arguments and returns the
    /// `'static` load calling the body at `body_path`.
    pub(crate) fn loader(&self, sig: &Signature, body_path: &TokenStream) -> TokenStream {
        let self_ident = self_ident();
        let owned_idents: Vec<Ident> = (0..self.params.len())
            .map(|i| format_ident!("__memocache_owned{}", i))
            .collect();
        let take_owned = self.params.iter().zip(&owned_idents).map(|(p, o)| {
            let id = &p.ident;
            match &p.referent {
                Some(_) => {
                    quote_spanned!(p.ty.span()=> let #o = ::std::borrow::ToOwned::to_owned(#id);)
                }
                None => quote!(let #o = #id;),
            }
        });
        let call_args = self
            .params
            .iter()
            .zip(&owned_idents)
            .map(|(p, o)| match &p.referent {
                Some(_) => quote!(::core::borrow::Borrow::borrow(&#o)),
                None => quote!(#o),
            });
        let (take_self, self_arg) = match &self.receiver {
            None => (quote!(), quote!()),
            Some(Receiver::ByRef { .. }) => {
                let span = sig.inputs[0].span();
                (
                    quote_spanned!(span=> let #self_ident = ::core::clone::Clone::clone(self);),
                    quote!(&#self_ident,),
                )
            }
            Some(Receiver::ByValue { .. }) => {
                (quote!(let #self_ident = self;), quote!(#self_ident,))
            }
        };
        let body_call = quote!(#body_path(#self_arg #(#call_args),*).await);
        // The cache calls the loader only on a miss or a due refresh, so a hit copies no
        // argument.
        quote! {
            move || {
                #take_self
                #(#take_owned)*
                move || async move { #body_call }
            }
        }
    }
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
pub(crate) fn mentions_self_type(tokens: TokenStream) -> bool {
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
