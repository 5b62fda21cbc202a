//! The options of `#[memoize(...)]`: parsing, value checks and the checks between options that
//! can be made at compile time. Every error carries the span of the offending token.

use std::time::Duration;

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token, Type};

use crate::duration;

/// The names accepted, in the order the error message lists them.
const NAMES: &str = "capacity, update_after, expire_after, timeout, max_hits, key, config, \
                     cache, name, zone, zone_key, tags, node, storage";

/// py-memoize's defaults, mirrored from `memocache-core` for the compile-time checks.
const DEFAULT_UPDATE_AFTER: Duration = Duration::from_secs(10 * 60);
const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(30 * 60);

/// A value with the span of the option that gave it.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// `key: Type = expr`.
pub(crate) struct KeyOption {
    pub(crate) ty: Type,
    pub(crate) expr: Expr,
}

/// Every option, as given.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) capacity: Option<Spanned<usize>>,
    pub(crate) update_after: Option<Spanned<Duration>>,
    pub(crate) expire_after: Option<Spanned<Duration>>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) max_hits: Option<Spanned<u32>>,
    pub(crate) key: Option<KeyOption>,
    pub(crate) config: Option<Expr>,
    pub(crate) cache: Option<Spanned<Expr>>,
    pub(crate) name: Option<LitStr>,
    /// `zone = ZONE`: an expression that derefs to a `Zone`.
    pub(crate) zone: Option<Expr>,
    /// `zone_key = expr`: the entry's dependency, an expression over the arguments.
    pub(crate) zone_key: Option<Expr>,
    /// `tags = [expr, ...]`: more dependencies, expressions over the arguments.
    pub(crate) tags: Option<Vec<Expr>>,
    /// `storage = "name"`: a tier over the storage registered under that name.
    pub(crate) storage: Option<LitStr>,
    /// `node = expr`: the node (over the arguments) that keys and configures the call.
    pub(crate) node: Option<Spanned<Expr>>,
}

/// One `name = value` (or `key: Type = value`) as written.
struct RawOption {
    name: Ident,
    ty: Option<Type>,
    value: Expr,
}

impl Parse for RawOption {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        let ty = if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            Some(input.parse::<Type>()?)
        } else {
            None
        };
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "expected `{name} = <value>`; `#[memoize]` options are `name = value` pairs"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        Ok(RawOption { name, ty, value })
    }
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let raw = Punctuated::<RawOption, Token![,]>::parse_terminated(input)?;
        let mut options = Options::default();
        let mut errors: Option<syn::Error> = None;
        let mut push = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        for option in raw {
            if let Err(e) = options.set(option) {
                push(e);
            }
        }
        if let Err(e) = options.check_together() {
            push(e);
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(options),
        }
    }
}

fn duplicate<T>(slot: &Option<T>, name: &Ident) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name}` is given twice"),
        ));
    }
    Ok(())
}

fn int_literal<T>(name: &Ident, value: &Expr, example: &str) -> syn::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<T>(),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes an integer literal, as in `{name} = {example}`"),
        )),
    }
}

fn string_literal(value: Expr, why: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s),
        other => Err(syn::Error::new(other.span(), why)),
    }
}

fn duration_literal(name: &Ident, value: &Expr) -> syn::Result<Duration> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => duration::parse(&s.value()).map_err(|msg| syn::Error::new(s.span(), msg)),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`{name}` takes a duration string such as `{name} = \"10m\"` \
                 (units d, h, m, s, ms, us, ns; combined as in \"1h30m\")"
            ),
        )),
    }
}

impl Options {
    fn set(&mut self, option: RawOption) -> syn::Result<()> {
        let RawOption { name, ty, value } = option;
        let span = name.span();
        let key = name.to_string();
        if key != "key" {
            if let Some(ty) = &ty {
                return Err(syn::Error::new(
                    ty.span(),
                    format!(
                        "only `key` takes a type (`key: Type = expr`); write `{name} = <value>`"
                    ),
                ));
            }
        }
        match key.as_str() {
            "capacity" => {
                duplicate(&self.capacity, &name)?;
                let n: usize = int_literal(&name, &value, "10_000")?;
                if n == 0 {
                    return Err(syn::Error::new(
                        value.span(),
                        "`capacity` must be at least 1",
                    ));
                }
                self.capacity = Some(Spanned { value: n, span });
            }
            "max_hits" => {
                duplicate(&self.max_hits, &name)?;
                let n: u32 = int_literal(&name, &value, "3")?;
                if n == 0 {
                    return Err(syn::Error::new(
                        value.span(),
                        "`max_hits` must be at least 1 (0 would serve nothing from the cache)",
                    ));
                }
                self.max_hits = Some(Spanned { value: n, span });
            }
            "update_after" => {
                duplicate(&self.update_after, &name)?;
                let d = duration_literal(&name, &value)?;
                self.update_after = Some(Spanned {
                    value: d,
                    span: value.span(),
                });
            }
            "expire_after" => {
                duplicate(&self.expire_after, &name)?;
                let d = duration_literal(&name, &value)?;
                if d.is_zero() {
                    return Err(syn::Error::new(
                        value.span(),
                        "`expire_after` must be greater than zero",
                    ));
                }
                self.expire_after = Some(Spanned {
                    value: d,
                    span: value.span(),
                });
            }
            "timeout" => {
                duplicate(&self.timeout, &name)?;
                let d = duration_literal(&name, &value)?;
                if d.is_zero() {
                    return Err(syn::Error::new(
                        value.span(),
                        "`timeout` must be greater than zero",
                    ));
                }
                self.timeout = Some(Spanned { value: d, span });
            }
            "name" => {
                duplicate(&self.name, &name)?;
                let why = "`name` takes a string literal, as in `name = \"users\"`";
                self.name = Some(string_literal(value, why)?);
            }
            "key" => {
                duplicate(&self.key, &name)?;
                let Some(ty) = ty else {
                    return Err(syn::Error::new(
                        span,
                        "`key` needs the key's type, which names the function's static cache: \
                         write `key: Type = expr`, as in `key: String = name.to_lowercase()`",
                    ));
                };
                self.key = Some(KeyOption { ty, expr: value });
            }
            "config" => {
                duplicate(&self.config, &name)?;
                self.config = Some(value);
            }
            "cache" => {
                duplicate(&self.cache, &name)?;
                self.cache = Some(Spanned { value, span });
            }
            "zone" => {
                duplicate(&self.zone, &name)?;
                self.zone = Some(value);
            }
            "zone_key" => {
                duplicate(&self.zone_key, &name)?;
                self.zone_key = Some(value);
            }
            "storage" => {
                duplicate(&self.storage, &name)?;
                let why = "`storage` takes the name a storage is registered under, as in \
                           `storage = \"redis\"` (see `memocache::registry::register_storage`)";
                self.storage = Some(string_literal(value, why)?);
            }
            "node" => {
                duplicate(&self.node, &name)?;
                self.node = Some(Spanned { value, span });
            }
            "tags" => {
                duplicate(&self.tags, &name)?;
                let Expr::Array(array) = value else {
                    return Err(syn::Error::new(
                        span,
                        "`tags` takes a list of expressions over the arguments, as in \
                         `tags = [format!(\"user:{id}\")]`",
                    ));
                };
                self.tags = Some(array.elems.into_iter().collect());
            }
            _ => {
                return Err(syn::Error::new(
                    span,
                    format!("unknown `#[memoize]` option `{name}`; the options are: {NAMES}"),
                ))
            }
        }
        Ok(())
    }

    /// Checks between options: `cache` excludes every option that configures a cache of the
    /// function's own; `update_after` must not exceed `expire_after` (the defaults included,
    /// unless `config` gives them).
    fn check_together(&self) -> syn::Result<()> {
        if let Some(node) = &self.node {
            let others: [(&str, Option<Span>); 13] = [
                ("storage", self.storage.as_ref().map(|n| n.span())),
                ("capacity", self.capacity.as_ref().map(|o| o.span)),
                ("update_after", self.update_after.as_ref().map(|o| o.span)),
                ("expire_after", self.expire_after.as_ref().map(|o| o.span)),
                ("timeout", self.timeout.as_ref().map(|o| o.span)),
                ("max_hits", self.max_hits.as_ref().map(|o| o.span)),
                ("key", self.key.as_ref().map(|k| k.expr.span())),
                ("config", self.config.as_ref().map(|e| e.span())),
                ("cache", self.cache.as_ref().map(|c| c.span)),
                ("name", self.name.as_ref().map(|n| n.span())),
                ("zone", self.zone.as_ref().map(|e| e.span())),
                ("zone_key", self.zone_key.as_ref().map(|e| e.span())),
                (
                    "tags",
                    self.tags.as_ref().and_then(|t| t.first()).map(|e| e.span()),
                ),
            ];
            if let Some((name, Some(span))) = others.iter().find(|(_, s)| s.is_some()) {
                let mut e = syn::Error::new(
                    *span,
                    format!(
                        "`{name}` cannot be combined with `node = ...`: the node type supplies \
                         the key, version, storages, lifespans and statistics"
                    ),
                );
                e.combine(syn::Error::new(node.span, "the node is given here"));
                return Err(e);
            }
            return Ok(());
        }
        if let Some(cache) = &self.cache {
            let own: [(&str, Option<Span>); 8] = [
                ("storage", self.storage.as_ref().map(|n| n.span())),
                ("capacity", self.capacity.as_ref().map(|o| o.span)),
                ("update_after", self.update_after.as_ref().map(|o| o.span)),
                ("expire_after", self.expire_after.as_ref().map(|o| o.span)),
                ("timeout", self.timeout.as_ref().map(|o| o.span)),
                ("max_hits", self.max_hits.as_ref().map(|o| o.span)),
                ("config", self.config.as_ref().map(|e| e.span())),
                ("name", self.name.as_ref().map(|n| n.span())),
            ];
            if let Some((name, Some(span))) = own.iter().find(|(_, s)| s.is_some()) {
                let mut e = syn::Error::new(
                    *span,
                    format!(
                        "`{name}` configures the function's own cache, but `cache = ...` shares \
                         another one: set `{name}` on that cache's builder instead"
                    ),
                );
                e.combine(syn::Error::new(
                    cache.span,
                    "the shared cache is given here",
                ));
                return Err(e);
            }
        }
        if self.config.is_none() {
            let update = self.update_after.as_ref().map(|o| o.value);
            let expire = self.expire_after.as_ref().map(|o| o.value);
            let (u, e) = (
                update.unwrap_or(DEFAULT_UPDATE_AFTER),
                expire.unwrap_or(DEFAULT_EXPIRE_AFTER),
            );
            if u > e {
                let span = self
                    .update_after
                    .as_ref()
                    .or(self.expire_after.as_ref())
                    .map(|o| o.span)
                    .unwrap_or_else(Span::call_site);
                let show = |d: Duration, given: Option<Duration>| {
                    let d = duration::display(d);
                    if given.is_some() {
                        format!("\"{d}\"")
                    } else {
                        format!("\"{d}\", the default")
                    }
                };
                return Err(syn::Error::new(
                    span,
                    format!(
                        "`update_after` ({}) must not be greater than `expire_after` ({}): \
                         an entry cannot become stale after it has expired",
                        show(u, update),
                        show(e, expire)
                    ),
                ));
            }
        }
        Ok(())
    }
}
