//! Step 4, the call: how the generated functions reach the body, and which
//! of the cache's loading methods the wrapper calls (sync or async, `Result`
//! or plain).

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::Signature;

use crate::emit::Names;
use crate::signature::{Analysis, Output};

/// The call of the hidden function that holds the body, passing the
/// arguments on: `self.hidden(args)` for a `&self` method, `Self::hidden(args)`
/// for another associated function, `hidden(args)` for a free function, in
/// an `unsafe` block for an `unsafe fn`. For an `async fn` it is a future,
/// not yet awaited.
pub(crate) fn body_call(sig: &Signature, signature: &Analysis, names: &Names) -> TokenStream2 {
    let hidden = &names.hidden;
    let args = &signature.names;
    let args = quote!(#(#args),*);
    let mut call = if signature.takes_self {
        quote!(self.#hidden(#args))
    } else if names.associated {
        quote!(Self::#hidden(#args))
    } else {
        quote!(#hidden(#args))
    };
    if sig.unsafety.is_some() {
        call = quote!(#[allow(unused_unsafe)] unsafe { #call });
    }
    call
}

/// The wrapper's lookup of `__key` in `__cache`, running `body_call` on a
/// miss: `get_or_insert_with` for a plain result, `try_get_or_insert_with`
/// for a `Result` (whose shared `Arc<E>` error is cloned back into an `E`),
/// and their `_async` forms, awaited, for an `async fn`.
pub(crate) fn cached_call(
    output: &Output,
    asyncness: bool,
    body_call: &TokenStream2,
) -> TokenStream2 {
    match (output, asyncness) {
        (Output::Plain(_), false) => quote! {
            __cache.get_or_insert_with(__key, || #body_call)
        },
        (Output::Result { err, .. }, false) => quote! {
            __cache
                .try_get_or_insert_with(__key, || #body_call)
                .map_err(|__e: ::std::sync::Arc<#err>| ::shardcache::__private::unshare(__e))
        },
        (Output::Plain(_), true) => quote! {
            __cache.get_or_insert_async(__key, #body_call).await
        },
        (Output::Result { err, .. }, true) => quote! {
            __cache
                .try_get_or_insert_async(__key, #body_call)
                .await
                .map_err(|__e: ::std::sync::Arc<#err>| ::shardcache::__private::unshare(__e))
        },
    }
}

/// The body of `uncached(…)`: `body_call`, awaited for an `async fn`.
pub(crate) fn uncached_call(asyncness: bool, body_call: &TokenStream2) -> TokenStream2 {
    if asyncness {
        quote!(#body_call.await)
    } else {
        body_call.clone()
    }
}
