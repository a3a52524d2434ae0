//! The `#[coremesh::actor]` attribute: an actor's handlers as `#[handle]` methods of
//! one impl block, from which it generates one `Handler`/`AsyncHandler` impl per
//! method and the dispatch table (through `coremesh::handlers!`), so there is no
//! separate list to keep in sync.
//!
//! Owns: reading a handler method's signature (which message, sync or async, what
//! reply) and the spanned errors for a signature that cannot be a handler. Must
//! never: guess a message type from anything but the message parameter's type as
//! written (or the name given in `#[handle(Type)]`).

use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ImplItem, ImplItemFn, ItemImpl, Path, PathArguments, ReturnType, Type};

/// What `#[coremesh::actor]` or `#[coremesh::actor(hooks)]` was given.
pub(crate) struct Options {
    /// `hooks`: the user implements `Actor` (its lifecycle hooks) by hand;
    /// otherwise the attribute writes `impl Actor for T {}`.
    pub hooks: bool,
}

impl Options {
    pub(crate) fn parse(attr: Tokens) -> syn::Result<Options> {
        if attr.is_empty() {
            return Ok(Options { hooks: false });
        }
        let word: syn::Ident = syn::parse2(attr.clone()).map_err(|_| {
            syn::Error::new_spanned(&attr, "expected `#[coremesh::actor]` or `#[coremesh::actor(hooks)]`")
        })?;
        if word != "hooks" {
            let text = "the only option is `hooks` (you implement `coremesh::Actor` and its hooks yourself)";
            return Err(syn::Error::new_spanned(word, text));
        }
        Ok(Options { hooks: true })
    }
}

/// One `#[handle]` method.
struct HandlerFn {
    method: syn::Ident,
    message: Path,
    is_async: bool,
    reply: Tokens,
    takes_ctx: bool,
    span: Span,
}

pub(crate) fn expand(options: Options, mut item: ItemImpl) -> syn::Result<Tokens> {
    if let Some((_, path, _)) = &item.trait_ {
        let text = "#[coremesh::actor] goes on the actor's own impl block (`impl Counter { .. }`), not on a trait impl";
        return Err(syn::Error::new_spanned(path, text));
    }
    if !item.generics.params.is_empty() {
        let text =
            "an actor declared with #[coremesh::actor] cannot be generic (its dispatch table names one type)";
        return Err(syn::Error::new_spanned(&item.generics, text));
    }
    let mut handlers = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let Some(pos) = f.attrs.iter().position(|a| a.path().is_ident("handle")) else { continue };
        let attr = f.attrs.remove(pos);
        match handler(&attr, f) {
            Ok(h) => handlers.push(h),
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(e) = errors {
        // Keep the methods (their `#[handle]` removed), so the errors above are
        // the only ones: no cascade of "no method" or "unused import".
        let e = e.to_compile_error();
        return Ok(quote!(#item #e));
    }
    let actor = &item.self_ty;
    let mut impls = Tokens::new();
    for h in &handlers {
        let HandlerFn { method, message, reply, span, .. } = h;
        let ctx = if h.takes_ctx { quote!(ctx) } else { quote!() };
        impls.extend(if h.is_async {
            quote_spanned! {*span=>
                impl ::coremesh::AsyncHandler<#message> for #actor {
                    type Reply = #reply;
                    fn handle(
                        &mut self,
                        msg: ::coremesh::Owned<#message>,
                        ctx: &mut ::coremesh::Ctx<Self>,
                    ) -> impl ::core::future::Future<Output = #reply> {
                        let _ = &ctx;
                        <#actor>::#method(self, msg, #ctx)
                    }
                }
            }
        } else {
            quote_spanned! {*span=>
                impl ::coremesh::Handler<#message> for #actor {
                    type Reply = #reply;
                    #[inline]
                    fn handle(
                        &mut self,
                        msg: &::coremesh::rkyv::Archived<#message>,
                        ctx: &mut ::coremesh::Ctx<Self>,
                    ) -> #reply {
                        let _ = &ctx;
                        <#actor>::#method(self, msg, #ctx)
                    }
                }
            }
        });
    }
    let sync: Vec<&Path> = handlers.iter().filter(|h| !h.is_async).map(|h| &h.message).collect();
    let async_: Vec<&Path> = handlers.iter().filter(|h| h.is_async).map(|h| &h.message).collect();
    let table = if async_.is_empty() {
        quote!(::coremesh::handlers!(#actor: #(#sync),*);)
    } else {
        quote!(::coremesh::handlers!(#actor: #(#sync),* ; async #(#async_),*);)
    };
    let actor_impl = if options.hooks { quote!() } else { quote!(impl ::coremesh::Actor for #actor {}) };
    Ok(quote! {
        #item
        #actor_impl
        #impls
        #table
    })
}

/// Reads one `#[handle]` method: `fn m(&mut self, msg: &ArchivedM [, ctx: &mut Ctx<Self>]) -> R`
/// or `async fn m(&mut self, msg: Owned<M> [, ctx]) -> R`.
fn handler(attr: &syn::Attribute, f: &ImplItemFn) -> syn::Result<HandlerFn> {
    let sig = &f.sig;
    let is_async = sig.asyncness.is_some();
    let named: Option<Path> = match &attr.meta {
        syn::Meta::Path(_) => None,
        syn::Meta::List(l) => Some(l.parse_args()?),
        syn::Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(nv, "write `#[handle]` or `#[handle(MessageType)]`"))
        }
    };
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(&sig.generics, "a handler cannot be generic"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some() => {}
        other => {
            let span = other.map_or(sig.ident.span(), |o| o.span());
            return Err(syn::Error::new(span, "a handler takes `&mut self` first"));
        }
    }
    let Some(FnArg::Typed(msg)) = inputs.next() else {
        let text = if is_async {
            "an async handler takes its message next: `msg: Owned<MyMessage>`"
        } else {
            "a handler takes its message next, read in place: `msg: &ArchivedMyMessage`"
        };
        return Err(syn::Error::new(sig.ident.span(), text));
    };
    let found = message_of(&msg.ty, is_async);
    let message = match (named, found) {
        (Some(m), _) => m,
        (None, Ok(m)) => m,
        (None, Err(e)) => return Err(e),
    };
    let takes_ctx = match inputs.next() {
        None => false,
        Some(FnArg::Typed(ctx)) if is_ctx(&ctx.ty) => true,
        Some(other) => {
            return Err(syn::Error::new_spanned(
                other,
                "a handler's third parameter, if any, is the context: `ctx: &mut Ctx<Self>`",
            ))
        }
    };
    if let Some(extra) = inputs.next() {
        let text =
            "a handler takes `&mut self`, its message and optionally `ctx: &mut Ctx<Self>`; nothing more";
        return Err(syn::Error::new_spanned(extra, text));
    }
    let reply = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, t) => t.to_token_stream(),
    };
    Ok(HandlerFn { method: sig.ident.clone(), message, is_async, reply, takes_ctx, span: sig.span() })
}

/// The message type a handler's parameter type names: `&ArchivedM` or
/// `&Archived<M>` for a sync handler, `Owned<M>` for an async one.
fn message_of(ty: &Type, is_async: bool) -> syn::Result<Path> {
    if is_async {
        if let Type::Path(p) = ty {
            if let Some(m) = generic_of(&p.path, "Owned") {
                return Ok(m);
            }
        }
        let shown = ty.to_token_stream().to_string().replace(' ', "");
        let inner = shown.trim_start_matches('&').trim_start_matches("Archived");
        let text = format!(
            "an async handler's message must outlive the buffer it arrived in: take `Owned<{inner}>` \
             (a copy the handler owns), not `{shown}`"
        );
        return Err(syn::Error::new_spanned(ty, text));
    }
    if let Type::Reference(r) = ty {
        if r.mutability.is_none() {
            if let Type::Path(p) = &*r.elem {
                if let Some(m) = generic_of(&p.path, "Archived") {
                    return Ok(m);
                }
                let mut path = p.path.clone();
                if let Some(last) = path.segments.last_mut() {
                    let name = last.ident.to_string();
                    if let Some(stripped) = name.strip_prefix("Archived").filter(|s| !s.is_empty()) {
                        last.ident = format_ident!("{}", stripped, span = last.ident.span());
                        return Ok(path);
                    }
                }
            }
        }
    }
    let shown = ty.to_token_stream().to_string().replace(' ', "");
    let text = format!(
        "a sync handler reads its message in place: take `&Archived{shown}` (rkyv's archived form, \
         also written `&Archived<{shown}>`), not `{shown}`; or make the handler `async` and take \
         `Owned<{shown}>`, or name the message with `#[handle(Message)]`"
    );
    Err(syn::Error::new_spanned(ty, text))
}

/// `M` when `path` ends in `wrapper<M>`.
fn generic_of(path: &Path, wrapper: &str) -> Option<Path> {
    let last = path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        GenericArgument::Type(Type::Path(p)) if args.args.len() == 1 => Some(p.path.clone()),
        _ => None,
    }
}

/// Whether `ty` is `&mut Ctx<..>`.
fn is_ctx(ty: &Type) -> bool {
    let Type::Reference(r) = ty else { return false };
    let Type::Path(p) = &*r.elem else { return false };
    r.mutability.is_some() && p.path.segments.last().is_some_and(|s| s.ident == "Ctx")
}
