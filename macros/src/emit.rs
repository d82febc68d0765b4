//! Step 5, the output: the wrapper that replaces the function, the hidden
//! function that keeps its body, and the cache's `static` with the functions
//! around it, either beside a method or on a struct named after a free
//! function.

use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{Attribute, Block, Ident, Signature, Visibility};

use crate::key::Key;

/// The function's attributes, by where they go: `cfg` on every generated
/// item, lint levels on the hidden body too (`expect` on the body only),
/// the rest on the wrapper.
pub(crate) struct Attributes<'a> {
    cfgs: Vec<&'a Attribute>,
    body: Vec<&'a Attribute>,
    wrapper: Vec<&'a Attribute>,
}

impl<'a> Attributes<'a> {
    /// Sorts the function's attributes by where they go.
    pub(crate) fn sort(attrs: &'a [Attribute]) -> Self {
        Attributes {
            cfgs: attrs.iter().filter(|a| is_attr(a, &["cfg"])).collect(),
            body: attrs
                .iter()
                .filter(|a| is_attr(a, &["allow", "warn", "deny", "forbid", "expect"]))
                .collect(),
            wrapper: attrs.iter().filter(|a| !is_attr(a, &["expect"])).collect(),
        }
    }
}

/// Whether the attribute is one of `names` (`#[cfg(…)]` for `["cfg"]`).
fn is_attr(attr: &Attribute, names: &[&str]) -> bool {
    names.iter().any(|name| attr.path().is_ident(name))
}

/// The names of the generated items, and where the cache's functions live.
pub(crate) struct Names {
    /// The memoized function's name.
    pub(crate) name: Ident,
    /// Whether it is a method or other associated function: its cache's
    /// functions are then associated functions `name_cache_info()`, …,
    /// rather than `name::cache_info()`, … on a struct `name`.
    pub(crate) associated: bool,
    /// The hidden function that holds the body: `__shardcache_uncached_name`.
    pub(crate) hidden: Ident,
    cache: Ident,
    info: Ident,
    clear: Ident,
    uncached: Ident,
    state: Ident,
    /// `Self`, or the struct `name`.
    owner: TokenStream2,
}

impl Names {
    /// The names for the function `name`: `cache`, `cache_info`,
    /// `cache_clear`, `uncached` and the hidden `__state` on the struct
    /// `name`, or with `name_` in front (`__shardcache_state_name`) in an
    /// `impl` block.
    pub(crate) fn new(name: &Ident, associated: bool) -> Self {
        let hidden = format_ident!("__shardcache_uncached_{}", name);
        let (cache, info, clear, uncached, state, owner) = if associated {
            (
                format_ident!("{}_cache", name),
                format_ident!("{}_cache_info", name),
                format_ident!("{}_cache_clear", name),
                format_ident!("{}_uncached", name),
                format_ident!("__shardcache_state_{}", name),
                quote!(Self),
            )
        } else {
            (
                format_ident!("cache"),
                format_ident!("cache_info"),
                format_ident!("cache_clear"),
                format_ident!("uncached"),
                format_ident!("__state"),
                quote!(#name),
            )
        };
        Names {
            name: name.clone(),
            associated,
            hidden,
            cache,
            info,
            clear,
            uncached,
            state,
            owner,
        }
    }
}

/// What every generated item takes from the function: its visibility, its
/// attributes and the generated names.
pub(crate) struct Items<'a> {
    pub(crate) vis: &'a Visibility,
    pub(crate) attrs: Attributes<'a>,
    pub(crate) names: Names,
}

impl Items<'_> {
    /// The cache's functions: `cache()`, the hidden `__state()` whose
    /// `static` holds the cache (of type `cache_type`, built by `builder` on
    /// first use) and its counts at the last `cache_clear()` (Python's
    /// `cache_clear()` resets `cache_info()`'s hits and misses),
    /// `cache_info()`, `cache_clear()`, and `uncached(…)`, which has the
    /// signature `forwarding_sig` and runs `uncached_call`.
    pub(crate) fn cache_functions(
        &self,
        cache_type: &TokenStream2,
        builder: &TokenStream2,
        forwarding_sig: &Signature,
        uncached_call: &TokenStream2,
    ) -> TokenStream2 {
        let Items { vis, attrs, names } = self;
        let Names {
            name,
            cache,
            info,
            clear,
            uncached,
            state,
            owner,
            ..
        } = names;
        let cfgs = &attrs.cfgs;
        let state_path = quote!(#owner::#state);
        let state_type = quote! {
            (#cache_type, ::std::sync::Mutex<::shardcache::CacheInfo>)
        };
        let mut uncached_sig = forwarding_sig.clone();
        uncached_sig.ident = uncached.clone();
        let what = if names.associated {
            "method"
        } else {
            "function"
        };
        let cache_doc = format!("The cache behind the memoized {what} `{name}`.");
        let info_doc = format!(
            "Hits, misses, capacity, current size and coalesced calls of `{name}`'s cache, as \
             Python's `cache_info()`: hits and misses count from the last `cache_clear()`."
        );
        let clear_doc = format!(
            "Empties `{name}`'s cache and, as Python's `cache_clear()`, restarts the hits and \
             misses that `cache_info()` reports."
        );
        let uncached_doc =
            format!("`{name}` without its cache: runs the body (Python's `__wrapped__`).");

        quote! {
            #(#cfgs)*
            #[doc = #cache_doc]
            #[allow(dead_code, clippy::type_complexity)]
            #vis fn #cache() -> &'static #cache_type {
                &#state_path().0
            }

            #(#cfgs)*
            #[doc(hidden)]
            #[allow(non_snake_case, clippy::type_complexity)]
            fn #state() -> &'static #state_type {
                static STATE: ::std::sync::OnceLock<#state_type> = ::std::sync::OnceLock::new();
                STATE.get_or_init(|| (#builder, ::std::sync::Mutex::new(::shardcache::CacheInfo::default())))
            }

            #(#cfgs)*
            #[doc = #info_doc]
            #[allow(dead_code)]
            #vis fn #info() -> ::shardcache::CacheInfo {
                let (__cache, __cleared) = #state_path();
                let __cleared = *__cleared.lock().unwrap_or_else(::std::sync::PoisonError::into_inner);
                let mut __info = __cache.cache_info();
                __info.hits = __info.hits.saturating_sub(__cleared.hits);
                __info.misses = __info.misses.saturating_sub(__cleared.misses);
                __info.coalesced = __info.coalesced.saturating_sub(__cleared.coalesced);
                __info
            }

            #(#cfgs)*
            #[doc = #clear_doc]
            #[allow(dead_code)]
            #vis fn #clear() {
                let (__cache, __cleared) = #state_path();
                let mut __cleared = __cleared.lock().unwrap_or_else(::std::sync::PoisonError::into_inner);
                __cache.clear();
                *__cleared = __cache.cache_info();
            }

            #(#cfgs)*
            #[doc = #uncached_doc]
            #[allow(dead_code)]
            #vis #uncached_sig {
                #uncached_call
            }
        }
    }

    /// The wrapper, with the function's signature `forwarding_sig` and its
    /// attributes: it runs the type `checks`, evaluates the key and makes
    /// `cached_call`; then the hidden function with the original signature
    /// `sig` (renamed) and `body`, in the function's scope.
    pub(crate) fn wrapper(
        &self,
        forwarding_sig: &Signature,
        checks: &TokenStream2,
        key: &Key,
        cached_call: &TokenStream2,
        sig: &Signature,
        body: &Block,
    ) -> TokenStream2 {
        let Items { vis, attrs, names } = self;
        let Attributes {
            cfgs,
            body: body_attrs,
            wrapper: wrapper_attrs,
        } = attrs;
        let Names {
            hidden,
            cache,
            owner,
            ..
        } = names;
        let key_expr = &key.expr;
        let mut hidden_sig = sig.clone();
        hidden_sig.ident = hidden.clone();
        quote! {
            #(#wrapper_attrs)*
            #vis #forwarding_sig {
                #checks
                let __cache = #owner::#cache();
                let __key = #key_expr;
                #cached_call
            }

            #(#cfgs)*
            #(#body_attrs)*
            #[doc(hidden)]
            #[allow(non_snake_case, dead_code, clippy::too_many_arguments)]
            #hidden_sig #body
        }
    }

    /// Everything together: for a method or other associated function, the
    /// `wrapper` and the cache's `functions` side by side in its `impl`
    /// block; for a free function, the `wrapper` and a struct of the same
    /// name whose `impl` holds the `functions` (types and functions have
    /// separate namespaces, and a braced struct takes no value name; unlike
    /// a module it works for functions declared inside a block, and needs no
    /// `super::` paths).
    pub(crate) fn assemble(&self, wrapper: TokenStream2, functions: TokenStream2) -> TokenStream2 {
        let Items { vis, attrs, names } = self;
        if names.associated {
            return quote! {
                #wrapper

                #functions
            };
        }
        let cfgs = &attrs.cfgs;
        let name = &names.name;
        let struct_doc = format!(
            "The cache of the memoized function `{name}()`: `{name}::cache_info()`, \
             `{name}::cache_clear()`, `{name}::uncached(…)` and `{name}::cache()`."
        );
        quote! {
            #wrapper

            #(#cfgs)*
            #[doc = #struct_doc]
            #[allow(non_camel_case_types, dead_code)]
            #vis struct #name {
                _private: (),
            }

            #(#cfgs)*
            #[allow(dead_code)]
            impl #name {
                #functions
            }
        }
    }
}
