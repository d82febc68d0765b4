//! Step 3, the key: the expression that builds a call's key from its
//! arguments, and the key's type.

use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprTuple, Ident, Type};

use crate::options::Options;
use crate::signature::Analysis;

/// A call's key: the expression, evaluated in the wrapper where the
/// arguments are in scope, and its type, which the `static` names.
pub(crate) struct Key {
    pub(crate) expr: TokenStream2,
    pub(crate) ty: TokenStream2,
}

/// The key from `key = …` and `key_type = …`, or from all arguments when
/// neither is given. A method needs `key`: keying on `self` would keep every
/// instance alive. `key_type` is inferred when `key` is an argument or a
/// tuple of arguments. Borrowed arguments cannot be stored as key parts.
pub(crate) fn build_key(options: &Options, signature: &Analysis) -> syn::Result<Key> {
    if signature.takes_self && options.key.is_none() {
        return Err(syn::Error::new(
            signature.forwarding_sig.fn_token.span(),
            "memoize: a method needs an explicit `key = …` (and `key_type = …`): the cache is \
             global, and keying on `self` would keep every instance alive (cpython #102618)",
        ));
    }
    match (&options.key, &options.key_type) {
        (Some(expr), Some(ty)) => Ok(Key {
            expr: quote!(#expr),
            ty: quote!(#ty),
        }),
        (Some(expr), None) => inferred_key(expr, signature),
        (None, Some(ty)) => Err(syn::Error::new(
            ty.span(),
            "memoize: `key_type` needs `key = …` (the expression that builds the key)",
        )),
        (None, None) => all_arguments_key(signature),
    }
}

/// The key `key = expr` with its type inferred: `expr` must be one argument
/// or a tuple of arguments, each of them owned.
fn inferred_key(expr: &Expr, signature: &Analysis) -> syn::Result<Key> {
    let inferred = match expr {
        Expr::Tuple(tuple) => tuple_of_arguments(tuple, signature)?,
        e => argument_part(e, signature)?.map(|(v, ty)| (v, quote!(#ty))),
    };
    match inferred {
        Some((expr, ty)) => Ok(Key { expr, ty }),
        None => Err(syn::Error::new(
            expr.span(),
            "memoize: name the key's type with `key_type = …` (it is only \
             inferred when the key is an argument or a tuple of arguments)",
        )),
    }
}

/// The key of a non-empty tuple whose elements are all arguments, as the
/// tuple of their key parts and the tuple of their types; `None` otherwise.
fn tuple_of_arguments(
    tuple: &ExprTuple,
    signature: &Analysis,
) -> syn::Result<Option<(TokenStream2, TokenStream2)>> {
    let mut values = Vec::new();
    let mut tys = Vec::new();
    for elem in &tuple.elems {
        let Some((v, ty)) = argument_part(elem, signature)? else {
            return Ok(None);
        };
        values.push(v);
        tys.push(ty);
    }
    Ok((!values.is_empty()).then(|| (quote!((#(#values,)*)), quote!((#(#tys,)*)))))
}

/// The key part of an expression that is an argument's name, and the
/// argument's type; `None` if it is anything else, an error if the argument
/// is borrowed.
fn argument_part(e: &Expr, signature: &Analysis) -> syn::Result<Option<(TokenStream2, Type)>> {
    let Expr::Path(p) = e else { return Ok(None) };
    let Some(ident) = p.path.get_ident() else {
        return Ok(None);
    };
    let Some(at) = signature.names.iter().position(|n| n == ident) else {
        return Ok(None);
    };
    let ty = &signature.types[at];
    if matches!(ty, Type::Reference(_)) {
        return Err(borrowed_error(ident, ty));
    }
    let value = quote_spanned!(ty.span()=> ::shardcache::__private::key_part::<#ty>(&#ident));
    Ok(Some((value, ty.clone())))
}

/// The default key: the tuple of all arguments' key parts (each cloned), of
/// the tuple of their types. Every argument must be owned.
fn all_arguments_key(signature: &Analysis) -> syn::Result<Key> {
    let (names, types) = (&signature.names, &signature.types);
    for (n, t) in names.iter().zip(types) {
        if matches!(t, Type::Reference(_)) {
            return Err(borrowed_error(n, t));
        }
    }
    let parts = names
        .iter()
        .zip(types)
        .map(|(n, t)| quote_spanned!(t.span()=> ::shardcache::__private::key_part::<#t>(&#n)));
    Ok(Key {
        expr: quote!((#(#parts,)*)),
        ty: quote!((#(#types,)*)),
    })
}

/// The error for argument `n` of borrowed type `t` used as a key part: it
/// suggests building an owned key.
fn borrowed_error(n: &Ident, t: &Type) -> syn::Error {
    syn::Error::new(
        t.span(),
        format!(
            "memoize: argument `{n}` is borrowed, and the cache needs owned keys; add \
             `key = …, key_type = …` to build an owned key (for example \
             `key = {n}.to_owned(), key_type = String`)"
        ),
    )
}
