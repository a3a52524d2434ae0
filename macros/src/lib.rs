//! coremesh-macros: the `#[coremesh::message_type("stable.name")]` attribute, and
//! `#[coremesh::actor]` (an actor's handlers as methods of one impl block; see
//! `actor.rs`).
//!
//! Owns the *shape string* of a message declaration: a canonical text of the item's
//! field names, field types (as tokens), their order, enum variants and discriminants,
//! and its `#[rkyv(...)]` / `#[repr(...)]` attributes, from which coremesh computes the
//! type's schema fingerprint at compile time (`wire/FORMAT.md`, "Message schema
//! fingerprint", gives the grammar). The attribute adds rkyv's derives through
//! coremesh's re-export of rkyv, implements `coremesh::Message` and registers the type
//! in the link-time registry, through `coremesh::__register_message!`.
//!
//! Must never: hash anything itself (the hash is coremesh-wire's const fn, so both
//! declaration forms share one formula), depend on how the compiler prints tokens
//! (the shape string is rendered here, token by token), or include the Rust name of
//! the item (renaming or moving a type keeps its fingerprint, as it keeps its id).
#![forbid(unsafe_code)]

mod actor;

use proc_macro::TokenStream;
use proc_macro2::{Delimiter, TokenStream as Tokens, TokenTree};
use quote::{quote, ToTokens};
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Fields, LitStr};

/// Declares a message type: `#[coremesh::message_type("stable.name")]` on a struct or
/// an enum.
///
/// - derives `Archive`, `Serialize` and `Deserialize` through `coremesh::rkyv` (do
///   not derive them yourself; `#[rkyv(...)]` attributes of your own are kept);
/// - implements `coremesh::Message` with `NAME` = the stable name, `TYPE_ID` =
///   `type_id_of(NAME)` and `FINGERPRINT` = `shape_fingerprint(NAME,
///   size_of::<Archived>(), align_of::<Archived>(), shape)`, where the shape string
///   covers field names, field types as written, their order, variants and
///   discriminants, and `#[rkyv]`/`#[repr]` attributes;
/// - registers the type in this build's type table (checked at `Node::start`,
///   compared in every handshake).
///
/// A message type cannot be generic: one stable name would stand for many layouts.
#[proc_macro_attribute]
pub fn message_type(attr: TokenStream, item: TokenStream) -> TokenStream {
    let name = parse_macro_input!(attr as LitStr);
    let input = parse_macro_input!(item as DeriveInput);
    match expand(&name, &input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Declares an actor's handlers: `#[coremesh::actor]` on the actor's own impl
/// block, with `#[handle]` on each handler method.
///
/// - `#[handle] fn add(&mut self, msg: &ArchivedAdd, ctx: &mut Ctx<Self>) -> u64`
///   becomes `impl Handler<Add>` with `Reply = u64` (the message is read in place;
///   `&Archived<Add>` is accepted too, and `ctx` may be left out);
/// - `#[handle] async fn fetch(&mut self, msg: Owned<Fetch>, ctx: &mut Ctx<Self>) -> R`
///   becomes `impl AsyncHandler<Fetch>`;
/// - `#[handle(Add)]` names the message when its type is spelled otherwise;
/// - the dispatch table is generated from the same methods (`coremesh::handlers!`),
///   and `impl Actor for T {}` too, unless `#[coremesh::actor(hooks)]` says you
///   implement `Actor` (its lifecycle hooks) yourself.
///
/// Methods without `#[handle]` stay ordinary methods. A signature that cannot be a
/// handler is a compile error naming what to write instead.
#[proc_macro_attribute]
pub fn actor(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemImpl);
    let expanded = actor::Options::parse(attr.into()).and_then(|o| actor::expand(o, item));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(name: &LitStr, input: &DeriveInput) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        let text = "a message type cannot be generic: one stable name would name many layouts";
        return Err(syn::Error::new_spanned(&input.generics, text));
    }
    if let Some(a) = input.attrs.iter().find(|a| derives_archive(a)) {
        let text =
            "#[coremesh::message_type] derives rkyv's Archive, Serialize and Deserialize itself; remove them";
        return Err(syn::Error::new_spanned(a, text));
    }
    if name.value().is_empty() {
        return Err(syn::Error::new_spanned(name, "the stable name must not be empty"));
    }
    let shape = LitStr::new(&shape(input)?, name.span());
    let ident = &input.ident;
    Ok(quote! {
        #[derive(::coremesh::rkyv::Archive, ::coremesh::rkyv::Serialize, ::coremesh::rkyv::Deserialize)]
        #[rkyv(crate = ::coremesh::rkyv)]
        #input

        impl ::coremesh::Message for #ident {
            const NAME: &'static str = #name;
            const TYPE_ID: u64 = ::coremesh::wire::type_id_of(#name);
            const FINGERPRINT: u64 = ::coremesh::wire::shape_fingerprint(
                #name,
                ::core::mem::size_of::<::coremesh::rkyv::Archived<#ident>>(),
                ::core::mem::align_of::<::coremesh::rkyv::Archived<#ident>>(),
                #shape,
            );
        }

        ::coremesh::__register_message!(#ident);
    })
}

/// Whether `a` is a `#[derive(...)]` that names rkyv's `Archive`.
fn derives_archive(a: &Attribute) -> bool {
    a.path().is_ident("derive") && a.meta.to_token_stream().into_iter().any(|t| mentions(&t, "Archive"))
}

fn mentions(t: &TokenTree, word: &str) -> bool {
    match t {
        TokenTree::Ident(i) => i == word,
        TokenTree::Group(g) => g.stream().into_iter().any(|t| mentions(&t, word)),
        _ => false,
    }
}

/// The shape string (grammar in FORMAT.md):
/// `ATTRS struct{FIELDS}` | `ATTRS struct(FIELDS)` | `ATTRS struct;` |
/// `ATTRS enum{VARIANT…}`, where a named field is `ATTRS name:TYPE,`, an unnamed one
/// `ATTRS TYPE,` and a variant `ATTRS Name{…}`/`(…)`/`` then `=DISCRIMINANT` if any, then `,`.
fn shape(input: &DeriveInput) -> syn::Result<String> {
    let mut s = attrs(&input.attrs);
    match &input.data {
        Data::Struct(d) => {
            s.push_str("struct");
            fields(&mut s, &d.fields, true);
        }
        Data::Enum(d) => {
            s.push_str("enum{");
            for v in &d.variants {
                s.push_str(&attrs(&v.attrs));
                s.push_str(&v.ident.to_string());
                fields(&mut s, &v.fields, false);
                if let Some((_, discriminant)) = &v.discriminant {
                    s.push('=');
                    s.push_str(&render(discriminant.to_token_stream()));
                }
                s.push(',');
            }
            s.push('}');
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(u.union_token, "a message type cannot be a union"));
        }
    }
    Ok(s)
}

/// Appends `{…}`, `(…)`, or for no fields `;` (a struct) or nothing (a variant).
fn fields(s: &mut String, fields: &Fields, is_struct: bool) {
    let (open, close) = match fields {
        Fields::Named(_) => ('{', '}'),
        Fields::Unnamed(_) => ('(', ')'),
        Fields::Unit => {
            if is_struct {
                s.push(';');
            }
            return;
        }
    };
    s.push(open);
    for f in fields {
        s.push_str(&attrs(&f.attrs));
        if let Some(ident) = &f.ident {
            s.push_str(&ident.to_string());
            s.push(':');
        }
        s.push_str(&render(f.ty.to_token_stream()));
        s.push(',');
    }
    s.push(close);
}

/// The `#[rkyv(...)]` and `#[repr(...)]` attributes, rendered; others (docs, serde,
/// other derives) do not count.
fn attrs(attrs: &[Attribute]) -> String {
    let mut s = String::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("rkyv") || a.path().is_ident("repr")) {
        s.push_str("#[");
        s.push_str(&render(a.meta.to_token_stream()));
        s.push(']');
    }
    s
}

/// Tokens as text, independent of how the compiler would print them: each token's own
/// text, groups in their delimiters, one space between two tokens only where both are
/// words (identifiers or literals), and none anywhere else.
fn render(tokens: Tokens) -> String {
    let mut s = String::new();
    render_into(&mut s, tokens);
    s
}

fn render_into(s: &mut String, tokens: Tokens) {
    let mut last_word = false;
    for t in tokens {
        let word = matches!(t, TokenTree::Ident(_) | TokenTree::Literal(_));
        if word && last_word {
            s.push(' ');
        }
        match t {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                s.push_str(open);
                render_into(s, g.stream());
                s.push_str(close);
            }
            TokenTree::Ident(i) => s.push_str(&i.to_string()),
            TokenTree::Punct(p) => s.push(p.as_char()),
            TokenTree::Literal(l) => s.push_str(&l.to_string()),
        }
        last_word = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(item: &str) -> String {
        shape(&syn::parse_str::<DeriveInput>(item).unwrap()).unwrap()
    }

    #[test]
    fn shapes_follow_the_documented_grammar() {
        assert_eq!(shape_of("struct A { n: u32, s: Vec<String> }"), "struct{n:u32,s:Vec<String>,}");
        assert_eq!(shape_of("struct A(u8, [u8; 4]);"), "struct(u8,[u8;4],)");
        assert_eq!(shape_of("struct A;"), "struct;");
        assert_eq!(
            shape_of("#[repr(u8)] enum E { A, B(u64), C { x: &'static str } = 7 }"),
            "#[repr(u8)]enum{A,B(u64,),C{x:&'static str,}=7,}"
        );
        // Doc comments, other attributes, visibility and the item's own name do not count;
        // whitespace in the source does not either.
        assert_eq!(
            shape_of("/// doc\n#[derive(Debug)] pub struct Other { pub n : Option < u32 > }"),
            "struct{n:Option<u32>,}"
        );
        assert_eq!(
            shape_of("struct A { #[rkyv(with = rkyv::with::Skip)] n: u32 }"),
            "struct{#[rkyv(with=rkyv::with::Skip)]n:u32,}"
        );
    }

    #[test]
    fn generics_unions_and_own_derives_are_refused() {
        let name = LitStr::new("a.B", proc_macro2::Span::call_site());
        for (item, needle) in [
            ("struct A<T> { t: T }", "generic"),
            ("union U { a: u32 }", "union"),
            ("#[derive(Archive)] struct A { n: u32 }", "derives rkyv"),
        ] {
            let e = expand(&name, &syn::parse_str(item).unwrap()).unwrap_err();
            assert!(e.to_string().contains(needle), "{item}: {e}");
        }
    }
}
