//! The `#[memoize]` attribute of [shardcache](https://docs.rs/shardcache):
//! Python's `@functools.lru_cache` for Rust functions, concurrent and
//! call-once, recursion-safe. Use it through `shardcache::memoize` (the
//! default feature `macros`).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Expr, FnArg, GenericArgument, GenericParam, Ident, ImplItemFn, ItemFn, Pat,
    PathArguments, ReturnType, Signature, Token, Type, Visibility,
};

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
/// `#[memoize(capacity = 128, shards = 4, policy = TinyLfu, key = …, key_type = …)]`,
/// all optional:
///
/// | option | default | meaning |
/// | --- | --- | --- |
/// | `capacity = N` | 128 | entries kept (Python's `maxsize`); 0 keeps nothing but still coalesces concurrent calls |
/// | `shards = N` | the builder's choice | as `CacheBuilder::shards` |
/// | `policy = Lru` or `TinyLfu` | `Lru` | as `CacheBuilder::policy` |
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
    let expanded = match syn::parse::<ItemFn>(item.clone()) {
        Ok(function) => expand(
            options,
            function.attrs,
            function.vis,
            function.sig,
            *function.block,
        ),
        Err(_) => match syn::parse::<ImplItemFn>(item) {
            Ok(method) => expand(options, method.attrs, method.vis, method.sig, method.block),
            Err(_) => Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                "memoize: apply `#[memoize]` to a function or a method",
            )),
        },
    };
    expanded
        .unwrap_or_else(|error| error.to_compile_error())
        .into()
}

/// `capacity = N, shards = N, policy = Lru | TinyLfu, key = expr, key_type = Type`.
#[derive(Default)]
struct Options {
    capacity: Option<Expr>,
    shards: Option<Expr>,
    policy: Option<syn::Path>,
    key: Option<Expr>,
    key_type: Option<Type>,
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match name.to_string().as_str() {
                "capacity" => options.capacity = Some(input.parse()?),
                "shards" => options.shards = Some(input.parse()?),
                "policy" => options.policy = Some(input.parse()?),
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
                             `shards`, `policy`, `key` and `key_type`"
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

/// What the function returns, and so what the cache stores.
enum Output {
    /// Any `T`: cached as is.
    Plain(Box<Type>),
    /// `Result<T, E>`: only `Ok(T)` is cached.
    Result { ok: Box<Type>, err: Box<Type> },
}

fn output_of(sig: &Signature) -> syn::Result<Output> {
    let ty = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.span(),
                "memoize: the function returns nothing, so there is nothing to cache",
            ))
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Type::Path(path) = &ty {
        if let Some(last) = path.path.segments.last() {
            if last.ident == "Result" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    let types: Vec<&Type> = args
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    if let [ok, err] = types[..] {
                        return Ok(Output::Result {
                            ok: Box::new(ok.clone()),
                            err: Box::new(err.clone()),
                        });
                    }
                }
            }
        }
    }
    Ok(Output::Plain(Box::new(ty)))
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Reference(r) => contains_impl_trait(&r.elem),
        Type::Tuple(t) => t.elems.iter().any(contains_impl_trait),
        Type::Slice(s) => contains_impl_trait(&s.elem),
        Type::Array(a) => contains_impl_trait(&a.elem),
        Type::Paren(p) => contains_impl_trait(&p.elem),
        Type::Path(p) => p.path.segments.iter().any(|s| match &s.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().any(|g| match g {
                GenericArgument::Type(t) => contains_impl_trait(t),
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}

/// Whether a token stream mentions `Self` (then the function is certainly an
/// associated function, and a module-level struct cannot hold its cache).
fn mentions_self(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "Self",
        proc_macro2::TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}

fn is_attr(attr: &syn::Attribute, names: &[&str]) -> bool {
    names.iter().any(|name| attr.path().is_ident(name))
}

fn expand(
    options: Options,
    attrs: Vec<syn::Attribute>,
    vis: Visibility,
    sig: Signature,
    body: syn::Block,
) -> syn::Result<TokenStream2> {
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, GenericParam::Lifetime(_)))
    {
        return Err(syn::Error::new(
            param.span(),
            "memoize: a generic function cannot be memoized (its cache is one static of one \
             type); memoize a non-generic wrapper for each type you need",
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new(
            constness.span(),
            "memoize: a `const fn` cannot be memoized (its cache lives at run time); remove \
             `const`",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "memoize: variadic functions are not supported",
        ));
    }
    let output = output_of(&sig)?;
    let name = &sig.ident;

    // Arguments: the receiver (methods) and the named ones.
    let mut receiver = None;
    let mut names = Vec::new();
    let mut types = Vec::new();
    // The signature of the generated functions that forward their arguments:
    // no `mut` on the parameters (they are only passed on).
    let mut plain_sig = sig.clone();
    for input in plain_sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() || r.mutability.is_some() {
                    return Err(syn::Error::new(
                        r.span(),
                        "memoize: only `&self` methods can be memoized (the cache must neither \
                         own nor mutate `self`); take `&self` and name the key with `key = …`",
                    ));
                }
                receiver = Some(r.clone());
            }
            FnArg::Typed(arg) => {
                let Pat::Ident(ident) = &mut *arg.pat else {
                    return Err(syn::Error::new(
                        arg.pat.span(),
                        "memoize: use a plain name for each argument (no patterns), so it can \
                         form the cache key; destructure inside the body",
                    ));
                };
                if ident.by_ref.is_some() || ident.subpat.is_some() {
                    return Err(syn::Error::new(
                        ident.span(),
                        "memoize: use a plain name for each argument (no `ref` or `@` \
                         patterns), so it can form the cache key",
                    ));
                }
                if contains_impl_trait(&arg.ty) {
                    return Err(syn::Error::new(
                        arg.ty.span(),
                        "memoize: `impl Trait` arguments make the function generic, and a \
                         generic function cannot be memoized; take a concrete type",
                    ));
                }
                ident.mutability = None;
                names.push(ident.ident.clone());
                types.push((*arg.ty).clone());
            }
        }
    }
    if receiver.is_some() && options.key.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "memoize: a method needs an explicit `key = …` (and `key_type = …`): the cache is \
             global, and keying on `self` would keep every instance alive (cpython #102618)",
        ));
    }

    // The key: an expression and its type.
    let borrowed_error = |n: &Ident, t: &Type| {
        syn::Error::new(
            t.span(),
            format!(
                "memoize: argument `{n}` is borrowed, and the cache needs owned keys; add \
                 `key = …, key_type = …` to build an owned key (for example \
                 `key = {n}.to_owned(), key_type = String`)"
            ),
        )
    };
    let (key_expr, key_type) = match (&options.key, &options.key_type) {
        (Some(expr), Some(ty)) => (quote!(#expr), quote!(#ty)),
        (Some(expr), None) => {
            // Inferred when the key is one argument or a tuple of arguments.
            let part = |e: &Expr| -> syn::Result<Option<(TokenStream2, Type)>> {
                let Expr::Path(p) = e else { return Ok(None) };
                let Some(ident) = p.path.get_ident() else {
                    return Ok(None);
                };
                let Some(at) = names.iter().position(|n| n == ident) else {
                    return Ok(None);
                };
                let ty = &types[at];
                if matches!(ty, Type::Reference(_)) {
                    return Err(borrowed_error(ident, ty));
                }
                let value =
                    quote_spanned!(ty.span()=> ::shardcache::__private::key_part::<#ty>(&#ident));
                Ok(Some((value, ty.clone())))
            };
            let inferred = match expr {
                Expr::Tuple(t) => {
                    let mut values = Vec::new();
                    let mut tys = Vec::new();
                    for elem in &t.elems {
                        match part(elem)? {
                            Some((v, ty)) => {
                                values.push(v);
                                tys.push(ty);
                            }
                            None => {
                                values.clear();
                                break;
                            }
                        }
                    }
                    (values.len() == t.elems.len() && !values.is_empty())
                        .then(|| (quote!((#(#values,)*)), quote!((#(#tys,)*))))
                }
                e => part(e)?.map(|(v, ty)| (v, quote!(#ty))),
            };
            match inferred {
                Some(key) => key,
                None => {
                    return Err(syn::Error::new(
                        expr.span(),
                        "memoize: name the key's type with `key_type = …` (it is only \
                         inferred when the key is an argument or a tuple of arguments)",
                    ))
                }
            }
        }
        (None, Some(ty)) => {
            return Err(syn::Error::new(
                ty.span(),
                "memoize: `key_type` needs `key = …` (the expression that builds the key)",
            ))
        }
        (None, None) => {
            for (n, t) in names.iter().zip(&types) {
                if matches!(t, Type::Reference(_)) {
                    return Err(borrowed_error(n, t));
                }
            }
            let parts = names.iter().zip(&types).map(
                |(n, t)| quote_spanned!(t.span()=> ::shardcache::__private::key_part::<#t>(&#n)),
            );
            (quote!((#(#parts,)*)), quote!((#(#types,)*)))
        }
    };

    let capacity = options.capacity.map_or(quote!(128), |c| quote!(#c));
    let shards = options.shards.map(|s| quote!(.shards(#s)));
    // `policy = TinyLfu` or a path ending in the variant (`Policy::TinyLfu`).
    let policy = options.policy.map(|p| {
        let variant = &p.segments.last().expect("a path has a segment").ident;
        quote!(.policy(::shardcache::Policy::#variant))
    });
    let value_type = match &output {
        Output::Plain(t) => (**t).clone(),
        Output::Result { ok, .. } => (**ok).clone(),
    };
    let asyncness = sig.asyncness.is_some();
    if mentions_self(quote!(#key_type #value_type)) {
        return Err(syn::Error::new(
            value_type.span(),
            "memoize: the cache is a `static`, which cannot name `Self`; spell out the type \
             (for example `-> MyType` instead of `-> Self`)",
        ));
    }
    let associated = receiver.is_some() || mentions_self(quote!(#sig #body));

    // Attributes: `cfg` goes on every generated item, lint levels on the
    // body too (`expect` on the body only), the rest on the function.
    let cfgs: Vec<_> = attrs.iter().filter(|a| is_attr(a, &["cfg"])).collect();
    let body_attrs: Vec<_> = attrs
        .iter()
        .filter(|a| is_attr(a, &["allow", "warn", "deny", "forbid", "expect"]))
        .collect();
    let fn_attrs: Vec<_> = attrs.iter().filter(|a| !is_attr(a, &["expect"])).collect();

    // Compile-time checks with messages that say what to do.
    let value_check = {
        let span = value_type.span();
        quote_spanned! {span=>
            {
                #[diagnostic::on_unimplemented(
                    message = "memoize: the result type `{Self}` cannot be cached",
                    label = "must be `Clone + Send + Sync + 'static`",
                    note = "results are cloned out of the cache: return an `Arc<T>` (or derive `Clone`)"
                )]
                trait MemoizedValue {}
                impl<T: ::std::clone::Clone + ::std::marker::Send + ::std::marker::Sync + 'static> MemoizedValue for T {}
                fn check<T: MemoizedValue>() {}
                check::<#value_type>();
            }
        }
    };
    let error_check = match &output {
        Output::Plain(_) => quote!(),
        Output::Result { err, .. } => {
            let span = err.span();
            quote_spanned! {span=>
                {
                    #[diagnostic::on_unimplemented(
                        message = "memoize: the error type `{Self}` cannot be shared",
                        label = "must be `Clone + Send + Sync + 'static`",
                        note = "one call's error goes to every concurrent caller: return `Result<T, Arc<E>>` (or derive `Clone`)"
                    )]
                    trait MemoizedError {}
                    impl<T: ::std::clone::Clone + ::std::marker::Send + ::std::marker::Sync + 'static> MemoizedError for T {}
                    fn check<T: MemoizedError>() {}
                    check::<#err>();
                }
            }
        }
    };

    // The undecorated body, as a hidden sibling with the original scope.
    let hidden = format_ident!("__shardcache_uncached_{}", name);
    let mut hidden_sig = sig.clone();
    hidden_sig.ident = hidden.clone();
    let args = quote!(#(#names),*);
    let mut call_hidden = if receiver.is_some() {
        quote!(self.#hidden(#args))
    } else if associated {
        quote!(Self::#hidden(#args))
    } else {
        quote!(#hidden(#args))
    };
    if sig.unsafety.is_some() {
        call_hidden = quote!(#[allow(unused_unsafe)] unsafe { #call_hidden });
    }
    let cache_type = quote!(::shardcache::Cache<#key_type, #value_type>);
    let build = quote! {
        ::shardcache::Cache::builder().capacity(#capacity) #shards #policy .build()
    };
    // The cache, and the counts at the last `cache_clear()` (Python's
    // `cache_clear()` resets `cache_info()`'s hits and misses).
    let state_type = quote! {
        (#cache_type, ::std::sync::Mutex<::shardcache::CacheInfo>)
    };
    let state_fn_body = quote! {
        static STATE: ::std::sync::OnceLock<#state_type> = ::std::sync::OnceLock::new();
        STATE.get_or_init(|| (#build, ::std::sync::Mutex::new(::shardcache::CacheInfo::default())))
    };

    let call = match (&output, asyncness) {
        (Output::Plain(_), false) => quote! {
            __cache.get_or_insert_with(__key, || #call_hidden)
        },
        (Output::Result { err, .. }, false) => quote! {
            __cache
                .try_get_or_insert_with(__key, || #call_hidden)
                .map_err(|__e: ::std::sync::Arc<#err>| ::shardcache::__private::unshare(__e))
        },
        (Output::Plain(_), true) => quote! {
            __cache.get_or_insert_async(__key, #call_hidden).await
        },
        (Output::Result { err, .. }, true) => quote! {
            __cache
                .try_get_or_insert_async(__key, #call_hidden)
                .await
                .map_err(|__e: ::std::sync::Arc<#err>| ::shardcache::__private::unshare(__e))
        },
    };
    let uncached_call = if asyncness {
        quote!(#call_hidden.await)
    } else {
        call_hidden.clone()
    };

    // The names of the cache's functions, and where they live.
    let (cache_fn, info_fn, clear_fn, uncached_fn, state_fn, owner) = if associated {
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
    let cache_path = quote!(#owner::#cache_fn);
    let state_path = quote!(#owner::#state_fn);
    let mut uncached_sig = plain_sig.clone();
    uncached_sig.ident = uncached_fn.clone();
    let wrapper_sig = &plain_sig;
    let what = if associated { "method" } else { "function" };
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

    let functions = quote! {
        #(#cfgs)*
        #[doc = #cache_doc]
        #[allow(dead_code, clippy::type_complexity)]
        #vis fn #cache_fn() -> &'static #cache_type {
            &#state_path().0
        }

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::type_complexity)]
        fn #state_fn() -> &'static #state_type {
            #state_fn_body
        }

        #(#cfgs)*
        #[doc = #info_doc]
        #[allow(dead_code)]
        #vis fn #info_fn() -> ::shardcache::CacheInfo {
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
        #vis fn #clear_fn() {
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
    };

    let wrapper = quote! {
        #(#fn_attrs)*
        #vis #wrapper_sig {
            #value_check
            #error_check
            let __cache = #cache_path();
            let __key = #key_expr;
            #call
        }

        #(#cfgs)*
        #(#body_attrs)*
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code, clippy::too_many_arguments)]
        #hidden_sig #body
    };

    if associated {
        // In an impl block: associated functions beside the method.
        return Ok(quote! {
            #wrapper

            #functions
        });
    }

    // A free function: a struct of the same name (types and functions have
    // separate namespaces, and a braced struct takes no value name) holds
    // the cache's functions. Unlike a module it works for functions declared
    // inside a block, and needs no `super::` paths.
    let struct_doc = format!(
        "The cache of the memoized function `{name}()`: `{name}::cache_info()`, \
         `{name}::cache_clear()`, `{name}::uncached(…)` and `{name}::cache()`."
    );
    Ok(quote! {
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
    })
}
