//! The `#[memoize]` attribute of [shardcache](https://docs.rs/shardcache):
//! Python's `@functools.lru_cache` for Rust functions, concurrent and
//! call-once, recursion-safe. Use it through `shardcache::memoize` (the
//! default feature `macros`).

// The expansion in the order `expand` runs it: `options` (what the attribute
// says), `signature` (what the function allows, returns and passes on), `key`
// (the key's expression and type), `call` (how the generated functions reach
// the cache and the body), then `checks` and `emit` (the generated items).
mod call;
mod checks;
mod emit;
mod key;
mod options;
mod signature;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{parse_macro_input, ImplItemFn, ItemFn, Signature, Visibility};

use crate::emit::{Attributes, Items, Names};
use crate::options::Options;

/// Memoizes a function: Python's `@functools.lru_cache(maxsize=128)`,
/// concurrent and call-once.
///
/// ```
/// use shardcache::memoize;
///
/// #[memoize(capacity = 128)]
/// fn fib(n: u64) -> u128 {
///     if n < 2 { n as u128 } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// assert_eq!(fib(90), 2_880_067_194_370_816_120);
/// // Each fib(k) ran once; the other calls were hits. As Python prints it:
/// assert_eq!(
///     fib::cache_info().to_string(),
///     "CacheInfo(hits=88, misses=91, maxsize=128, currsize=91)"
/// );
/// fib::cache_clear();
/// assert_eq!(fib::uncached(10), 55); // the body without the cache
/// ```
///
/// The results live in a shardcache `Cache` (a `static`, built on first use)
/// keyed by the arguments. Concurrent calls with the same arguments run the
/// body once and all receive its result (Python's `lru_cache` may run it
/// once per racing thread); the body runs with no lock held, so it may call
/// the memoized function for other arguments (memoized recursion). Calling
/// it with its *own* arguments from inside the body would wait for itself:
/// that panics instead of deadlocking.
///
/// # Options
///
/// `#[memoize(capacity = 128, shards = 4, policy = TinyLfu, ttl = …, refresh_after = …, key = …, key_type = …)]`,
/// all optional:
///
/// | option | default | meaning |
/// | --- | --- | --- |
/// | `capacity = N` | 128 | entries kept (Python's `maxsize`); 0 keeps nothing but still coalesces concurrent calls |
/// | `shards = N` | the builder's choice | as `CacheBuilder::shards` |
/// | `policy = Lru` or `TinyLfu` | `Lru` | as `CacheBuilder::policy` |
/// | `ttl = Duration expr` | none | each result expires this long after it was computed, as `CacheBuilder::time_to_live` |
/// | `refresh_after = Duration expr` | none | a result older than this is returned at once while one caller recomputes it, as `CacheBuilder::refresh_after` |
/// | `key = expr` | all arguments | the key, built from the arguments |
/// | `key_type = Type` | inferred if `key` is an argument or a tuple of arguments | the key's type |
///
/// # Keys
///
/// - By default the key is the tuple of all arguments, cloned:
///   `(a.clone(), b.clone())`. Each argument must then be an owned
///   `Clone + Hash + Eq + Send + Sync + 'static` type.
/// - Borrowed arguments (`&str`, `&[u8]`, `&Config`) cannot be stored; build
///   an owned key from them:
///
///   ```
///   #[shardcache::memoize(key = word.to_owned(), key_type = String)]
///   fn syllables(word: &str) -> usize {
///       word.split('-').count()
///   }
///   assert_eq!(syllables("mem-o-ize"), 3);
///   ```
/// - `key` may also leave out arguments that do not change the result:
///   `#[memoize(key = (user, page))] fn render(user: u64, page: u32, log: &Logger)`.
///
/// # Results
///
/// - `-> T` is cached as it is; `T: Clone + Send + Sync + 'static` (callers
///   receive clones: return an `Arc<T>` for large values).
/// - `-> Result<T, E>` caches only `Ok(T)`. An `Err` goes to the caller and
///   to every concurrent caller of the same key (one call, one error), and
///   the next call tries again. `E: Clone + Send + Sync + 'static`: the
///   error is shared as an `Arc<E>` and cloned out of it (for an error that
///   is not `Clone`, return `Result<T, Arc<E>>`). A `Result` is recognised by
///   its spelling, `Result<T, E>` with two arguments; an alias such as
///   `io::Result<T>` is cached as a plain value.
/// - `-> Option<T>` is cached as it is, `None` included, as Python caches
///   `None`. To cache only `Some`, return a `Result`.
/// - `async fn` works the same way (shardcache's async single-flight):
///   concurrent tasks share one call, and if the task running it is
///   cancelled, a waiting task takes over.
///
/// # What is generated
///
/// For `fn name(args) -> R`, with the function's visibility:
///
/// - `fn name(args) -> R`: looks the key up and runs the body on a miss;
/// - `name::cache_info() -> CacheInfo` (hits, misses, capacity, size and
///   coalesced calls; its `Display` is Python's `CacheInfo(...)` line),
///   `name::cache_clear()` (which, as in Python, also restarts the hits and
///   misses that `cache_info()` counts), `name::uncached(args) -> R` (the
///   body without the cache, Python's `__wrapped__`) and `name::cache()`
///   (the `&'static Cache` itself, whose `stats()` count from the start). They are associated functions of a
///   field-less struct `name`, which is no value and so does not clash with
///   the function; nothing else needs importing.
/// - a hidden `fn __shardcache_uncached_name(args) -> R` holding the body.
///
/// Functions declared inside a block (a test, a doctest's `main`) work the
/// same way.
///
/// In an `impl` block, a `&self` method needs `key = …`: the cache is one
/// `static` shared by all instances, and keying on `self` would keep every
/// instance alive as long as its entry (Python's version does, cpython
/// #102618). Put into the key what the result depends on:
///
/// ```
/// struct Prices {
///     currency: &'static str,
/// }
///
/// impl Prices {
///     #[shardcache::memoize(key = (self.currency, item), key_type = (&'static str, u32))]
///     fn price(&self, item: u32) -> u64 {
///         u64::from(item) * 100
///     }
/// }
///
/// let prices = Prices { currency: "EUR" };
/// assert_eq!(prices.price(3), 300);
/// assert_eq!(prices.price(3), 300);
/// assert_eq!(Prices::price_cache_info().hits, 1);
/// Prices::price_cache_clear();
/// assert_eq!(prices.price_uncached(4), 400);
/// ```
///
/// The cache's functions are then associated functions named after the
/// method: `Self::name_cache_info()`, `name_cache_clear()`, `name_cache()`,
/// and the method `name_uncached(&self, args)`. An associated function
/// without `self` gets the same, provided its signature or body mentions
/// `Self` (the attribute cannot otherwise tell it from a free function);
/// its key and result types must still be spelled out (a `static` cannot
/// name `Self`). In a trait `impl` the extra functions are not allowed:
/// memoize a free function and call it from there.
///
/// # Rejected signatures
///
/// Each fails to compile with a message that says what to do: generic
/// functions (a function has one cache of one type: memoize a non-generic
/// wrapper per type; lifetime parameters are fine), `impl Trait` arguments,
/// argument patterns, borrowed arguments without `key`, key parts or results
/// that are not `Clone + Send + Sync + 'static`, `self` and `&mut self`
/// methods, `&self` methods without `key`, `const fn`, and functions that
/// return nothing.
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = parse_macro_input!(attr as Options);
    parse_function(item)
        .and_then(|function| expand(&options, function))
        .unwrap_or_else(|error| error.to_compile_error())
        .into()
}

/// The item under the attribute, taken apart.
struct Function {
    attrs: Vec<syn::Attribute>,
    vis: Visibility,
    sig: Signature,
    body: syn::Block,
}

/// Parses the item under the attribute as a free function, or else as a
/// method (or other function of an `impl` block).
fn parse_function(item: TokenStream) -> syn::Result<Function> {
    match syn::parse::<ItemFn>(item.clone()) {
        Ok(function) => Ok(Function {
            attrs: function.attrs,
            vis: function.vis,
            sig: function.sig,
            body: *function.block,
        }),
        Err(_) => match syn::parse::<ImplItemFn>(item) {
            Ok(method) => Ok(Function {
                attrs: method.attrs,
                vis: method.vis,
                sig: method.sig,
                body: method.block,
            }),
            Err(_) => Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                "memoize: apply `#[memoize]` to a function or a method",
            )),
        },
    }
}

/// The expansion of `#[memoize(options)]` on `function`, step by step; the
/// first step that rejects the function gives the error.
fn expand(options: &Options, function: Function) -> syn::Result<TokenStream2> {
    let Function {
        attrs,
        vis,
        sig,
        body,
    } = function;

    // What the signature allows, returns and passes on; then the key.
    let signature = signature::analyse(&sig)?;
    let key = key::build_key(options, &signature)?;
    let value_type = signature.output.value_type();
    signature::reject_self_in_static(&key.ty, value_type)?;
    // A method, or a function that names `Self`, sits in an `impl` block.
    let associated = signature.takes_self || signature::mentions_self(quote!(#sig #body));

    // How the generated functions reach the body and the cache.
    let items = Items {
        vis: &vis,
        attrs: Attributes::sort(&attrs),
        names: Names::new(&sig.ident, associated),
    };
    let asyncness = sig.asyncness.is_some();
    let body_call = call::body_call(&sig, &signature, &items.names);
    let cached_call = call::cached_call(&signature.output, asyncness, &body_call);
    let uncached_call = call::uncached_call(asyncness, &body_call);

    // The generated items.
    let key_type = &key.ty;
    let cache_type = quote!(::shardcache::Cache<#key_type, #value_type>);
    let functions = items.cache_functions(
        &cache_type,
        &options.cache_builder(),
        &signature.forwarding_sig,
        &uncached_call,
    );
    let wrapper = items.wrapper(
        &signature.forwarding_sig,
        &checks::type_checks(&signature.output),
        &key,
        &cached_call,
        &sig,
        &body,
    );
    Ok(items.assemble(wrapper, functions))
}
