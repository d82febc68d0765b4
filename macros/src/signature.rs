//! Step 2, the signature: whether `#[memoize]` can take the function, what it
//! returns, and which arguments it passes on.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, GenericParam, Ident, Pat, PatType, PathArguments, ReturnType};
use syn::{Signature, Type};

/// What the function returns, and so what the cache stores.
pub(crate) enum Output {
    /// Any `T`: cached as is.
    Plain(Box<Type>),
    /// `Result<T, E>`: only `Ok(T)` is cached.
    Result { ok: Box<Type>, err: Box<Type> },
}

impl Output {
    /// The type the cache stores: `T` of `-> T` or of `-> Result<T, E>`.
    pub(crate) fn value_type(&self) -> &Type {
        match self {
            Output::Plain(t) => t,
            Output::Result { ok, .. } => ok,
        }
    }
}

/// A signature `#[memoize]` accepts, taken apart.
pub(crate) struct Analysis {
    /// What the function returns.
    pub(crate) output: Output,
    /// Whether it is a `&self` method.
    pub(crate) takes_self: bool,
    /// The arguments after `self`, in order, and their types.
    pub(crate) names: Vec<Ident>,
    pub(crate) types: Vec<Type>,
    /// The signature of the generated functions that forward their arguments:
    /// no `mut` on the parameters (they are only passed on).
    pub(crate) forwarding_sig: Signature,
}

/// Checks the signature and takes it apart: rejects what cannot be memoized,
/// in the order a reader meets it (generics, `const`, variadics, the return
/// type, then each argument), with a message that says what to do instead.
pub(crate) fn analyse(sig: &Signature) -> syn::Result<Analysis> {
    reject_unsupported(sig)?;
    let output = output_of(sig)?;
    let mut takes_self = false;
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut forwarding_sig = sig.clone();
    for input in forwarding_sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() || r.mutability.is_some() {
                    return Err(syn::Error::new(
                        r.span(),
                        "memoize: only `&self` methods can be memoized (the cache must neither \
                         own nor mutate `self`); take `&self` and name the key with `key = …`",
                    ));
                }
                takes_self = true;
            }
            FnArg::Typed(arg) => {
                let (name, ty) = forwarded_argument(arg)?;
                names.push(name);
                types.push(ty);
            }
        }
    }
    Ok(Analysis {
        output,
        takes_self,
        names,
        types,
        forwarding_sig,
    })
}

/// Rejects the signatures that cannot have one cache: generic (lifetime
/// parameters are fine), `const` and variadic functions.
fn reject_unsupported(sig: &Signature) -> syn::Result<()> {
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
    Ok(())
}

/// The [`Output`] of the signature: `Result<T, E>` when the return type is
/// spelled so, with two type arguments (an alias such as `io::Result<T>` is
/// plain); an error when the function returns nothing.
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

/// The name and type of a typed argument, which must be a plain name (no
/// pattern, `ref` or `@`) of a type without `impl Trait`. Drops its `mut`
/// in place, as the forwarding functions only pass it on.
fn forwarded_argument(arg: &mut PatType) -> syn::Result<(Ident, Type)> {
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
    Ok((ident.ident.clone(), (*arg.ty).clone()))
}

/// Whether `impl Trait` appears in a type, at any depth.
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
pub(crate) fn mentions_self(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "Self",
        proc_macro2::TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}

/// Rejects a key or value type that names `Self`: the cache is a `static`,
/// and a `static` cannot name it. The error points at the value type.
pub(crate) fn reject_self_in_static(key_type: &TokenStream2, value_type: &Type) -> syn::Result<()> {
    if mentions_self(quote!(#key_type #value_type)) {
        return Err(syn::Error::new(
            value_type.span(),
            "memoize: the cache is a `static`, which cannot name `Self`; spell out the type \
             (for example `-> MyType` instead of `-> Self`)",
        ));
    }
    Ok(())
}
