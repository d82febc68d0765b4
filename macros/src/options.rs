//! Step 1, the options: what `#[memoize(…)]` says between its parentheses.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Token, Type};

/// `capacity = N, shards = N, policy = Lru | TinyLfu, ttl = Duration expr,
/// refresh_after = Duration expr, key = expr, key_type = Type`,
/// each optional, as written (nothing is checked beyond the syntax).
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) capacity: Option<Expr>,
    pub(crate) shards: Option<Expr>,
    pub(crate) policy: Option<syn::Path>,
    pub(crate) ttl: Option<Expr>,
    /// A `std::time::Duration` expression, as `CacheBuilder::refresh_after`.
    pub(crate) refresh_after: Option<Expr>,
    pub(crate) key: Option<Expr>,
    pub(crate) key_type: Option<Type>,
}

impl Parse for Options {
    /// Reads `name = value` pairs separated by commas; Python's `maxsize` and
    /// `typed`, and any other name, are errors that say what to write instead.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match name.to_string().as_str() {
                "capacity" => options.capacity = Some(input.parse()?),
                "shards" => options.shards = Some(input.parse()?),
                "policy" => options.policy = Some(input.parse()?),
                "ttl" => options.ttl = Some(input.parse()?),
                "refresh_after" => options.refresh_after = Some(input.parse()?),
                "key" => options.key = Some(input.parse()?),
                "key_type" => options.key_type = Some(input.parse()?),
                "maxsize" => {
                    return Err(syn::Error::new(
                        name.span(),
                        "memoize: Python's `maxsize` is `capacity` here: `capacity = N`",
                    ))
                }
                "typed" => {
                    return Err(syn::Error::new(
                        name.span(),
                        "memoize: Python's `typed` has no use here: a Rust argument has one type, \
                         and the key is built from it",
                    ))
                }
                other => {
                    return Err(syn::Error::new(
                        name.span(),
                        format!(
                            "memoize: unknown option `{other}`; the options are `capacity`, \
                             `shards`, `policy`, `ttl`, `refresh_after`, `key` and `key_type`"
                        ),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(options)
    }
}

impl Options {
    /// The expression that builds the cache:
    /// `::shardcache::Cache::builder().capacity(N) .shards(N) .policy(P) .build()`,
    /// with capacity 128 unless given, and `shards`/`policy` only if given.
    pub(crate) fn cache_builder(&self) -> TokenStream2 {
        let capacity = self.capacity.as_ref().map_or(quote!(128), |c| quote!(#c));
        let shards = self.shards.as_ref().map(|s| quote!(.shards(#s)));
        // `policy = TinyLfu` or a path ending in the variant (`Policy::TinyLfu`).
        let policy = self.policy.as_ref().map(|p| {
            let variant = &p.segments.last().expect("a path has a segment").ident;
            quote!(.policy(::shardcache::Policy::#variant))
        });
        let ttl = self.ttl.as_ref().map(|t| quote!(.time_to_live(#t)));
        let refresh_after = self
            .refresh_after
            .as_ref()
            .map(|d| quote!(.refresh_after(#d)));
        quote! {
            ::shardcache::Cache::builder().capacity(#capacity) #shards #policy #ttl #refresh_after .build()
        }
    }
}
