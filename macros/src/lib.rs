//! The `#[memoize]` attribute of [shardcache](https://docs.rs/shardcache):
//! Python's `@functools.lru_cache` for Rust functions, concurrent and
//! call-once. Use it through `shardcache::memoize`; the documentation is
//! there.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Expr, FnArg, GenericArgument, Ident, ImplItemFn, ItemFn, Pat, PathArguments,
    ReturnType, Signature, Token, Type, Visibility,
};

/// Memoizes a function in a shardcache `Cache`: concurrent calls with the
/// same arguments run the body once, recursion works, and the cache can be
/// inspected and cleared. See `shardcache::memoize` for the full
/// documentation.
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
            Err(error) => Err(error),
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
    policy: Option<Ident>,
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

fn expand(
    options: Options,
    attrs: Vec<syn::Attribute>,
    vis: Visibility,
    sig: Signature,
    body: syn::Block,
) -> syn::Result<TokenStream2> {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "memoize: a generic function cannot be memoized (its cache is one static of one \
             type); memoize a non-generic wrapper for each type you need",
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
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() || r.mutability.is_some() {
                    return Err(syn::Error::new(
                        r.span(),
                        "memoize: only `&self` methods can be memoized (a cache must not own \
                         or mutate `self`)",
                    ));
                }
                receiver = Some(r.clone());
            }
            FnArg::Typed(arg) => {
                let Pat::Ident(ident) = &*arg.pat else {
                    return Err(syn::Error::new(
                        arg.pat.span(),
                        "memoize: use a plain name for each argument (no patterns), so it can \
                         form the cache key",
                    ));
                };
                if contains_impl_trait(&arg.ty) {
                    return Err(syn::Error::new(
                        arg.ty.span(),
                        "memoize: `impl Trait` arguments make the function generic, and a \
                         generic function cannot be memoized; take a concrete type",
                    ));
                }
                names.push(ident.ident.clone());
                types.push((*arg.ty).clone());
            }
        }
    }
    if receiver.is_some() && options.key.is_none() {
        return Err(syn::Error::new(
            sig.span(),
            "memoize: a method needs an explicit `key = …` (and `key_type = …`): the cache is \
             global, and keying on `self` would keep every instance alive (cpython #102618)",
        ));
    }

    // The key: an expression and its type.
    let (key_expr, key_type) =
        match (&options.key, &options.key_type) {
            (Some(expr), Some(ty)) => (quote!(#expr), quote!(#ty)),
            (Some(expr), None) => {
                // Allowed when the key is one argument or a tuple of arguments.
                let part_type = |e: &Expr| -> Option<Type> {
                    if let Expr::Path(p) = e {
                        let ident = p.path.get_ident()?;
                        let at = names.iter().position(|n| n == ident)?;
                        return Some(types[at].clone());
                    }
                    None
                };
                let ty = match expr {
                    Expr::Tuple(t) => t
                        .elems
                        .iter()
                        .map(part_type)
                        .collect::<Option<Vec<_>>>()
                        .map(|tys| quote!((#(#tys,)*))),
                    e => part_type(e).map(|t| quote!(#t)),
                };
                match ty {
                    Some(ty) => {
                        let parts = match expr {
                            Expr::Tuple(t) => {
                                let elems = t.elems.iter();
                                quote!((#(::std::clone::Clone::clone(&#elems),)*))
                            }
                            e => quote!(::std::clone::Clone::clone(&#e)),
                        };
                        (parts, ty)
                    }
                    None => return Err(syn::Error::new(
                        expr.span(),
                        "memoize: name the key's type with `key_type = …` (it is only inferred \
                         when the key is an argument or a tuple of arguments)",
                    )),
                }
            }
            (None, _) => {
                for (n, t) in names.iter().zip(&types) {
                    if matches!(t, Type::Reference(_)) {
                        return Err(syn::Error::new(
                            t.span(),
                            format!(
                            "memoize: argument `{n}` is borrowed, and the cache needs owned keys; \
                             add `key = …, key_type = …` to build an owned key (for example \
                             `key = {n}.to_owned(), key_type = String`)"
                        ),
                        ));
                    }
                }
                let parts = names.iter().zip(&types).map(|(n, t)| {
                quote_spanned!(t.span()=> ::shardcache::__private::key_part::<#t>(&#n))
            });
                (quote!((#(#parts,)*)), quote!((#(#types,)*)))
            }
        };

    let capacity = options.capacity.map_or(quote!(128), |c| quote!(#c));
    let shards = options.shards.map(|s| quote!(.shards(#s)));
    let policy = options
        .policy
        .map(|p| quote!(.policy(::shardcache::Policy::#p)));
    let value_type = match &output {
        Output::Plain(t) => (**t).clone(),
        Output::Result { ok, .. } => (**ok).clone(),
    };
    let asyncness = sig.asyncness.is_some();

    // The undecorated body, as a hidden sibling with the original scope.
    let hidden = format_ident!("__shardcache_uncached_{}", name);
    let mut hidden_sig = sig.clone();
    hidden_sig.ident = hidden.clone();
    let args = quote!(#(#names),*);
    let call_hidden = if receiver.is_some() {
        quote!(self.#hidden(#args))
    } else {
        quote!(#hidden(#args))
    };
    let cache_type = quote!(::shardcache::Cache<#key_type, #value_type>);
    let build = quote! {
        ::shardcache::Cache::builder().capacity(#capacity) #shards #policy .build()
    };
    let cache_fn_body = quote! {
        static CACHE: ::std::sync::OnceLock<#cache_type> = ::std::sync::OnceLock::new();
        CACHE.get_or_init(|| #build)
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

    let doc_attrs: Vec<_> = attrs.iter().collect();
    if receiver.is_some() {
        // A method: associated functions beside it (a module cannot live in
        // an impl block).
        let cache_fn = format_ident!("{}_cache", name);
        let info_fn = format_ident!("{}_cache_info", name);
        let clear_fn = format_ident!("{}_cache_clear", name);
        let uncached_fn = format_ident!("{}_uncached", name);
        let hidden_inputs = &sig.inputs;
        let output_ty = &sig.output;
        let async_kw = sig.asyncness;
        let uncached_call = if asyncness {
            quote!(self.#hidden(#args).await)
        } else {
            quote!(self.#hidden(#args))
        };
        return Ok(quote! {
            #(#doc_attrs)*
            #vis #sig {
                let __cache = Self::#cache_fn();
                let __key = #key_expr;
                #call
            }

            #[doc(hidden)]
            #[allow(non_snake_case)]
            #hidden_sig #body

            /// The cache behind the memoized method of the same prefix.
            #vis fn #cache_fn() -> &'static #cache_type {
                #cache_fn_body
            }

            /// Hits, misses, capacity and size of the memoized method's cache.
            #vis fn #info_fn() -> ::shardcache::CacheInfo {
                Self::#cache_fn().cache_info()
            }

            /// Empties the memoized method's cache.
            #vis fn #clear_fn() {
                Self::#cache_fn().clear()
            }

            /// The method without its cache.
            #vis #async_kw fn #uncached_fn(#hidden_inputs) #output_ty {
                #uncached_call
            }
        });
    }

    // A free function: a module of the same name holds its cache.
    let inputs = &sig.inputs;
    let output_ty = &sig.output;
    let async_kw = sig.asyncness;
    let uncached_call = if asyncness {
        quote!(super::#hidden(#args).await)
    } else {
        quote!(super::#hidden(#args))
    };
    let mod_vis = match &vis {
        Visibility::Inherited => quote!(),
        v => quote!(#v),
    };
    let inner_vis = match &vis {
        Visibility::Inherited => quote!(pub(super)),
        Visibility::Public(_) => quote!(pub),
        _ => quote!(pub(crate)),
    };
    let mod_doc = format!(
        "The cache of the memoized function [`{name}()`]: `cache_info()`, \
         `cache_clear()`, `uncached(…)` and `cache()`."
    );
    Ok(quote! {
        #(#doc_attrs)*
        #vis #sig {
            let __cache = #name::cache();
            let __key = #key_expr;
            #call
        }

        #[doc(hidden)]
        #[allow(non_snake_case)]
        #hidden_sig #body

        #[doc = #mod_doc]
        #[allow(unused_imports)]
        #mod_vis mod #name {
            use super::*;

            /// The cache itself.
            #inner_vis fn cache() -> &'static #cache_type {
                #cache_fn_body
            }

            /// Hits, misses, capacity and current size, as Python's
            /// `cache_info()`.
            #inner_vis fn cache_info() -> ::shardcache::CacheInfo {
                cache().cache_info()
            }

            /// Empties the cache (statistics are kept).
            #inner_vis fn cache_clear() {
                cache().clear()
            }

            /// The function without its cache (Python's `__wrapped__`).
            #inner_vis #async_kw fn uncached(#inputs) #output_ty {
                #uncached_call
            }
        }
    })
}
