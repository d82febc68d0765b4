extern crate proc_macro;
use proc_macro::TokenStream;
/// placeholder
#[proc_macro_attribute]
pub fn memoize(_a: TokenStream, item: TokenStream) -> TokenStream {
    item
}
