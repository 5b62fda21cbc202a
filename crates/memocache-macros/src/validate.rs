//! The checks on the annotated function: every compile error `#[memoize]` reports about the
//! signature (an `async fn` that is not `const`, `unsafe`, `extern`, variadic or generic; no
//! `&mut self`, `&mut` or `impl Trait` argument; a return type that can be named and a
//! `Result` written in full) and about the options that depend on it. The checks collect
//! every error before reporting; what passes is the return type, split into [`Output`].

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, GenericParam, PathArguments, ReturnType, Signature, Type};

use crate::options::Options;
use crate::params::mentions_self_value;

/// What the function returns.
pub(crate) enum Output {
    /// `Result<T, E>`: only `Ok` is cached; callers get `Result<T, memocache::Error<E>>`.
    Fallible { ok: Box<Type>, err: Box<Type> },
    /// Any other type (or `()`), loaded infallibly.
    Plain { ty: Box<Type> },
}

struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
    fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }
    /// An error spanning all of `tokens` (a `Span` of one token covers only its first).
    fn on(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }
}

/// Checks the signature and the options that depend on it, reporting every error at once (in
/// the order of the signature, then the options); returns the split return type.
pub(crate) fn signature(options: &Options, sig: &Signature) -> syn::Result<Output> {
    let mut errors = Errors(None);
    check_kind(sig, &mut errors);
    check_generics(sig, &mut errors);
    let has_receiver = check_arguments(sig, &mut errors);
    let out = output(&sig.output, &mut errors);
    check_options(options, &out, has_receiver, &mut errors);
    match errors.0 {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// An `async fn`, and none of `const`, `unsafe`, `extern` or variadic.
fn check_kind(sig: &Signature, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            "`#[memoize]` works on `async fn` only: its loads are futures that \
             concurrent callers share",
        );
    }
    if let Some(c) = &sig.constness {
        errors.at(c.span, "`#[memoize]` cannot memoize a `const fn`");
    }
    if let Some(u) = &sig.unsafety {
        errors.at(u.span, "`#[memoize]` cannot memoize an `unsafe fn`");
    }
    if let Some(abi) = &sig.abi {
        errors.at(
            abi.span(),
            "`#[memoize]` cannot memoize an `extern` function",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.at(v.span(), "`#[memoize]` cannot memoize a variadic function");
    }
}

/// Lifetime parameters only: a type or const parameter would make the cache's types unknown.
fn check_generics(sig: &Signature, errors: &mut Errors) {
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(t) => errors.at(
                t.ident.span(),
                "`#[memoize]` cannot memoize a generic function: each memoized function has one \
                 static cache, whose key and value types must be known; memoize a non-generic \
                 function for each type instead",
            ),
            GenericParam::Const(c) => errors.at(
                c.ident.span(),
                "`#[memoize]` cannot memoize a function with const generics: each memoized \
                 function has one static cache, whose key and value types must be known",
            ),
        }
    }
}

/// No `&mut self`, no `impl Trait` or `&mut` argument. Returns whether the function has a
/// receiver the key may use: `&mut self`, refused here, does not count.
fn check_arguments(sig: &Signature, errors: &mut Errors) -> bool {
    let mut has_receiver = false;
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => match &*r.ty {
                Type::Reference(t) if t.mutability.is_some() => errors.on(
                    r,
                    "`#[memoize]` cannot memoize a method taking `&mut self`: a cached call \
                     would skip the mutation",
                ),
                _ => has_receiver = true,
            },
            FnArg::Typed(pt) => {
                let ty = &*pt.ty;
                if let Some(t) = find_impl_trait(ty) {
                    errors.on(
                        t,
                        "`#[memoize]` cannot memoize a function with an `impl Trait` argument: \
                         that makes it generic, and each memoized function has one static cache \
                         whose key type must be known; take a concrete type",
                    );
                }
                if let Type::Reference(r) = ty {
                    if r.mutability.is_some() {
                        errors.on(
                            ty,
                            "`#[memoize]` cannot memoize a function taking a `&mut` argument: a \
                             cached call would skip the mutation",
                        );
                    }
                }
            }
        }
    }
    has_receiver
}

/// The options that need a `Result` return type, and a key using `self` without a receiver.
fn check_options(options: &Options, out: &Output, has_receiver: bool, errors: &mut Errors) {
    if let (Output::Plain { .. }, Some(t)) = (out, &options.timeout) {
        errors.at(
            t.span,
            "`timeout` needs a function returning `Result<T, E>`: a timed-out call returns \
             `Err(memocache::Error::Timeout(..))`, which a plain return type cannot carry",
        );
    }
    if let (Output::Plain { .. }, Some(c)) = (out, &options.cache) {
        errors.at(
            c.span,
            "`cache = ...` needs a function returning `Result<T, E>`: the shared cache's \
             timeout can fail a call, which a plain return type cannot report",
        );
    }
    if let (Output::Plain { .. }, Some(n)) = (out, &options.node) {
        errors.at(
            n.span,
            "`node = ...` needs a function returning `Result<T, E>` with the node type's \
             `Value` and `Error`",
        );
    }
    if let Some(key) = &options.key {
        if !has_receiver && mentions_self_value(key.expr.to_token_stream()) {
            errors.on(
                &key.expr,
                "the key uses `self`, but the function has no receiver",
            );
        }
    }
}

/// Finds `impl Trait` anywhere inside a type.
fn find_impl_trait(ty: &Type) -> Option<syn::TypeImplTrait> {
    struct Find(Option<syn::TypeImplTrait>);
    impl<'a> syn::visit::Visit<'a> for Find {
        fn visit_type_impl_trait(&mut self, t: &'a syn::TypeImplTrait) {
            self.0.get_or_insert_with(|| t.clone());
        }
    }
    let mut f = Find(None);
    syn::visit::visit_type(&mut f, ty);
    f.0
}

/// Splits `Result<T, E>` (recognised by the last path segment) from other return types.
fn output(ret: &ReturnType, errors: &mut Errors) -> Output {
    let ty = match ret {
        ReturnType::Default => {
            return Output::Plain {
                ty: syn::parse_quote!(()),
            }
        }
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Some(t) = find_impl_trait(ty) {
        errors.on(
            t,
            "`#[memoize]` stores the returned value in a static cache, so its type must be \
             named: replace `impl Trait` with a concrete type",
        );
    }
    if let Type::Path(p) = ty {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Result" {
                let types: Vec<&Type> = match &last.arguments {
                    PathArguments::AngleBracketed(a) => a
                        .args
                        .iter()
                        .filter_map(|g| match g {
                            GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                match types.as_slice() {
                    [ok, err] => {
                        return Output::Fallible {
                            ok: Box::new((*ok).clone()),
                            err: Box::new((*err).clone()),
                        }
                    }
                    _ => errors.on(
                        ty,
                        "`#[memoize]` needs to see the error type to cache only `Ok` values: \
                         write the return type as `Result<T, E>` in full",
                    ),
                }
            }
        }
    }
    Output::Plain {
        ty: Box::new(ty.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output_of(ret: &str) -> Result<String, String> {
        let ret: ReturnType = syn::parse_str(ret).unwrap();
        let mut errors = Errors(None);
        let out = output(&ret, &mut errors);
        match errors.0 {
            Some(e) => Err(e.to_string()),
            None => Ok(match out {
                Output::Fallible { ok, err } => format!(
                    "fallible {} / {}",
                    ok.to_token_stream(),
                    err.to_token_stream()
                ),
                Output::Plain { ty } => format!("plain {}", ty.to_token_stream()),
            }),
        }
    }

    #[test]
    fn result_is_recognised_by_its_last_segment_and_two_arguments() {
        assert_eq!(
            output_of("-> Result<u32, E>"),
            Ok("fallible u32 / E".into())
        );
        assert_eq!(
            output_of("-> std::result::Result<Vec<u8>, io::Error>"),
            Ok("fallible Vec < u8 > / io :: Error".into())
        );
        assert_eq!(output_of("-> u32"), Ok("plain u32".into()));
        assert_eq!(output_of(""), Ok("plain ()".into()));
        assert_eq!(
            output_of("-> Option<Result<u8, E>>"),
            Ok("plain Option < Result < u8 , E > >".into())
        );
        assert!(output_of("-> io::Result<u8>")
            .unwrap_err()
            .contains("`Result<T, E>` in full"));
        assert!(output_of("-> impl Display")
            .unwrap_err()
            .contains("impl Trait"));
    }
}
