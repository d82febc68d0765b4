//! Compile-time checks of the result and error types, placed in the wrapper
//! so that a type the cache cannot hold fails with a message that says what
//! to do, at the type as written.

use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use crate::signature::Output;

/// The checks the wrapper starts with: the result type's, then for a
/// `Result` the error type's.
pub(crate) fn type_checks(output: &Output) -> TokenStream2 {
    let value_check = value_check(output.value_type());
    let error_check = error_check(output);
    quote!(#value_check #error_check)
}

/// A block that fails to compile, at `value_type`, unless the result type
/// is `Clone + Send + Sync + 'static`.
fn value_check(value_type: &Type) -> TokenStream2 {
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
}

/// For a `Result`, a block that fails to compile, at the error type, unless
/// it is `Clone + Send + Sync + 'static`; nothing for a plain result.
fn error_check(output: &Output) -> TokenStream2 {
    match output {
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
    }
}
