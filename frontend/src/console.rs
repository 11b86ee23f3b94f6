//! The browser console: xterm.js (vendored from npm by the build script,
//! loaded only when a console opens) over the exec WebSocket of
//! docs/api.md. Binary frames carry the terminal both ways; a text frame
//! `{"resize":[cols,rows]}` follows every size change.

use std::cell::RefCell;
use std::rc::Rc;

use berth_api::containers::ExecResize;
use futures::channel::mpsc::UnboundedSender;
use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use js_sys::{Object, Promise, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::api;
use crate::num::u16_from_f64;

#[wasm_bindgen]
extern "C" {
    /// xterm.js's `Terminal` (a global once its UMD bundle has loaded).
    #[derive(Clone)]
    pub type Terminal;
    #[wasm_bindgen(constructor, js_class = "Terminal")]
    fn new(options: &JsValue) -> Terminal;
    #[wasm_bindgen(method)]
    fn open(this: &Terminal, parent: &web_sys::HtmlElement);
    #[wasm_bindgen(method, catch, js_name = write)]
    fn write_bytes(this: &Terminal, data: &js_sys::Uint8Array) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = write)]
    fn write_str(this: &Terminal, data: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = onData)]
    fn on_data(this: &Terminal, f: &Closure<dyn FnMut(String)>) -> JsValue;
    #[wasm_bindgen(method, js_name = onResize)]
    fn on_resize(this: &Terminal, f: &Closure<dyn FnMut(JsValue)>) -> JsValue;
    #[wasm_bindgen(method, js_name = loadAddon)]
    fn load_addon(this: &Terminal, addon: &FitAddon);
    #[wasm_bindgen(method, js_name = getSelection)]
    fn get_selection(this: &Terminal) -> String;
    #[wasm_bindgen(method, catch)]
    fn focus(this: &Terminal) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn dispose(this: &Terminal) -> Result<(), JsValue>;
    #[wasm_bindgen(method, getter)]
    fn cols(this: &Terminal) -> u16;
    #[wasm_bindgen(method, getter)]
    fn rows(this: &Terminal) -> u16;
}

#[wasm_bindgen]
extern "C" {
    /// `FitAddon.FitAddon` from @xterm/addon-fit.
    #[derive(Clone)]
    pub type FitAddon;
    #[wasm_bindgen(method, catch)]
    fn fit(this: &FitAddon) -> Result<(), JsValue>;
}

/// `new FitAddon.FitAddon()`: the addon's UMD bundle puts its class in a
/// namespace object, which `#[wasm_bindgen(constructor)]` cannot name.
fn new_fit_addon() -> Result<FitAddon, String> {
    let ns = Reflect::get(&js_sys::global(), &"FitAddon".into())
        .map_err(|_| "the fit addon did not load".to_string())?;
    let class: js_sys::Function = Reflect::get(&ns, &"FitAddon".into())
        .ok()
        .and_then(|c| c.dyn_into().ok())
        .ok_or("the fit addon has no FitAddon class")?;
    Reflect::construct(&class, &js_sys::Array::new())
        .map(|v| v.unchecked_into())
        .map_err(|_| "the fit addon could not start".to_string())
}

/// Where the build put xterm.js (`<meta name="berth-xterm">`).
fn xterm_base() -> String {
    document()
        .query_selector("meta[name=berth-xterm]")
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
        .unwrap_or_else(|| "/vendor/xterm/".into())
}

/// The Subresource Integrity hash the build recorded for a vendored file
/// (`<meta name="berth-sri" data-file="xterm.js" content="sha384-...">`):
/// the browser refuses the file when its bytes differ.
fn integrity(src: &str) -> Option<String> {
    let file = src.rsplit('/').next()?;
    document()
        .query_selector(&format!("meta[name=berth-sri][data-file=\"{file}\"]"))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
}

/// Adds a `<script>` (once) and waits for it to load.
async fn load_script(src: &str) -> Result<(), String> {
    let doc = document();
    let selector = format!("script[src=\"{src}\"]");
    if let Ok(Some(existing)) = doc.query_selector(&selector) {
        if existing.get_attribute("data-loaded").is_some() {
            return Ok(());
        }
        existing.remove();
    }
    let el: web_sys::HtmlScriptElement = doc
        .create_element("script")
        .map_err(|_| "cannot create a script element".to_string())?
        .unchecked_into();
    if let Some(sri) = integrity(src) {
        el.set_integrity(&sri);
        el.set_cross_origin(Some("anonymous"));
    }
    el.set_src(src);
    let el2 = el.clone();
    let promise = Promise::new(&mut |resolve, reject| {
        let el3 = el2.clone();
        let onload = Closure::once_into_js(move || {
            let _ = el3.set_attribute("data-loaded", "1");
            let _ = resolve.call0(&JsValue::NULL);
        });
        let onerror = Closure::once_into_js(move || {
            let _ = reject.call0(&JsValue::NULL);
        });
        el2.set_onload(Some(onload.unchecked_ref()));
        el2.set_onerror(Some(onerror.unchecked_ref()));
    });
    doc.head()
        .ok_or("the page has no head")?
        .append_child(&el)
        .map_err(|_| "cannot add the script".to_string())?;
    JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|_| format!("could not load {src}"))
}

fn load_css(href: &str) {
    let doc = document();
    if doc
        .query_selector(&format!("link[href=\"{href}\"]"))
        .ok()
        .flatten()
        .is_some()
    {
        return;
    }
    if let Ok(link) = doc.create_element("link") {
        let _ = link.set_attribute("rel", "stylesheet");
        if let Some(sri) = integrity(href) {
            let _ = link.set_attribute("integrity", &sri);
            let _ = link.set_attribute("crossorigin", "anonymous");
        }
        let _ = link.set_attribute("href", href);
        if let Some(head) = doc.head() {
            let _ = head.append_child(&link);
        }
    }
}

async fn load_xterm() -> Result<(), String> {
    let base = xterm_base();
    load_css(&format!("{base}xterm.css"));
    load_script(&format!("{base}xterm.js")).await?;
    load_script(&format!("{base}addon-fit.js")).await
}

/// What the console shows above the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Idle,
    Loading,
    Connected,
    Closed(String),
}

/// A live session: the terminal, its socket writer and listeners.
struct Session {
    term: Terminal,
    fit: FitAddon,
    tx: futures::channel::mpsc::UnboundedSender<Message>,
    _closures: Vec<Box<dyn std::any::Any>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.tx.close_channel();
        let _ = self.term.dispose();
    }
}

/// A terminal with its fit addon, opened in `parent` (emptied first) and
/// fitted to it.
fn open_terminal(parent: &web_sys::HtmlElement) -> Result<(Terminal, FitAddon), String> {
    parent.set_inner_html("");
    let opts = Object::new();
    let _ = Reflect::set(&opts, &"cursorBlink".into(), &JsValue::TRUE);
    let _ = Reflect::set(&opts, &"fontSize".into(), &JsValue::from(14));
    let _ = Reflect::set(&opts, &"convertEol".into(), &JsValue::FALSE);
    let term = Terminal::new(&opts);
    let fit = match new_fit_addon() {
        Ok(f) => f,
        Err(e) => {
            let _ = term.dispose();
            return Err(e);
        }
    };
    term.load_addon(&fit);
    term.open(parent);
    let _ = fit.fit();
    Ok((term, fit))
}

/// Sends what is typed and every new size (the current one first) to the
/// session's writer; returns the callbacks, which must live as long as it.
fn wire_input(term: &Terminal, tx: &UnboundedSender<Message>) -> Vec<Box<dyn std::any::Any>> {
    let send_resize = {
        let tx = tx.clone();
        move |cols: u16, rows: u16| {
            let frame = serde_json::to_string(&ExecResize {
                resize: [cols, rows],
            })
            .unwrap_or_default();
            let _ = tx.unbounded_send(Message::Text(frame));
        }
    };
    let on_data = {
        let tx = tx.clone();
        Closure::<dyn FnMut(String)>::new(move |d: String| {
            let _ = tx.unbounded_send(Message::Bytes(d.into_bytes()));
        })
    };
    term.on_data(&on_data);
    let on_resize = {
        let send_resize = send_resize.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |size: JsValue| {
            let get = |k: &str| {
                u16_from_f64(
                    Reflect::get(&size, &k.into())
                        .ok()
                        .and_then(|v| v.as_f64())
                        .unwrap_or(0.0),
                )
            };
            send_resize(get("cols"), get("rows"));
        })
    };
    term.on_resize(&on_resize);
    send_resize(term.cols(), term.rows());
    vec![Box::new(on_data), Box::new(on_resize)]
}

/// Writes the session's output to the terminal until it ends; returns why
/// it ended.
async fn read_output(term: &Terminal, mut source: SplitStream<WebSocket>) -> String {
    let mut reason = String::from("the session ended");
    while let Some(m) = source.next().await {
        match m {
            Ok(Message::Bytes(b)) => {
                let _ = term.write_bytes(&js_sys::Uint8Array::from(b.as_slice()));
            }
            Ok(Message::Text(t)) => {
                // The server sends problems as JSON text before closing.
                match serde_json::from_str::<berth_api::Problem>(&t) {
                    Ok(p) => reason = api::ApiError::from(p).to_string(),
                    Err(_) => {
                        let _ = term.write_str(&t);
                    }
                }
            }
            Err(e) => {
                reason = format!("the connection closed: {e}");
                break;
            }
        }
    }
    reason
}

/// One console session in `parent` for `(host, container, command)`: the
/// terminal, a single-use ticket, the websocket, until it closes.
async fn run(
    parent: web_sys::HtmlElement,
    (h, c, command): (String, String, String),
    status: RwSignal<Status>,
    session: StoredValue<Option<Rc<RefCell<Session>>>, LocalStorage>,
) {
    if let Err(e) = load_xterm().await {
        status.set(Status::Closed(format!("the terminal could not load: {e}")));
        return;
    }
    // The session cookie alone does not open a terminal: first a
    // single-use ticket (a POST with the CSRF header).
    let url = match api::exec_ticket(&h, &c, &command).await {
        Ok(t) => api::exec_url(&h, &c, &command, &t.ticket),
        Err(e) => {
            status.set(Status::Closed(e.to_string()));
            return;
        }
    };
    let (term, fit) = match open_terminal(&parent) {
        Ok(t) => t,
        Err(e) => {
            status.set(Status::Closed(e));
            return;
        }
    };
    let ws = match WebSocket::open(&url) {
        Ok(ws) => ws,
        Err(e) => {
            let _ = term.dispose();
            status.set(Status::Closed(format!(
                "the connection could not open: {e}"
            )));
            return;
        }
    };
    let (mut sink, source) = ws.split();
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<Message>();
    // Writer: everything typed, pasted or resized goes out in order.
    spawn_local(async move {
        while let Some(m) = rx.next().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let closures = wire_input(&term, &tx);
    // Fit the terminal to its box whenever the window changes size.
    let fit2 = fit.clone();
    let on_window = Closure::<dyn FnMut()>::new(move || {
        let _ = fit2.fit();
    });
    let _ = window().add_event_listener_with_callback("resize", on_window.as_ref().unchecked_ref());

    let s = Rc::new(RefCell::new(Session {
        term: term.clone(),
        fit,
        tx,
        _closures: closures,
    }));
    session.set_value(Some(s));
    status.set(Status::Connected);
    let _ = term.focus();

    let reason = read_output(&term, source).await;
    let _ =
        window().remove_event_listener_with_callback("resize", on_window.as_ref().unchecked_ref());
    drop(on_window);
    status.set(Status::Closed(reason));
}

#[component]
pub fn Console(host: Memo<String>, container: Memo<String>) -> impl IntoView {
    let status = RwSignal::new(Status::Idle);
    let cmd = RwSignal::new(String::from("/bin/sh"));
    let el = NodeRef::<leptos::html::Div>::new();
    let session: StoredValue<Option<Rc<RefCell<Session>>>, LocalStorage> =
        StoredValue::new_local(None);

    let connect = move || {
        let Some(parent) = el.get_untracked() else {
            return;
        };
        session.set_value(None);
        status.set(Status::Loading);
        let target = (
            host.get_untracked(),
            container.get_untracked(),
            cmd.get_untracked(),
        );
        spawn_local(run(parent.into(), target, status, session));
    };

    let copy = move |_| {
        if let Some(s) = session.get_value() {
            let text = s.borrow().term.get_selection();
            let _ = window().navigator().clipboard().write_text(&text);
        }
    };
    let paste = move |_| {
        if let Some(s) = session.get_value() {
            spawn_local(async move {
                let p = window().navigator().clipboard().read_text();
                if let Ok(v) = JsFuture::from(p).await
                    && let Some(text) = v.as_string()
                {
                    let s = s.borrow();
                    let _ = s.tx.unbounded_send(Message::Bytes(text.into_bytes()));
                    let _ = s.term.focus();
                }
            });
        }
    };
    let refit = move |_| {
        if let Some(s) = session.get_value() {
            let _ = s.borrow().fit.fit();
        }
    };
    let connected = move || status.get() == Status::Connected;

    view! {
        <div class="console">
            <div class="toolbar">
                <div>
                    <label for="exec-cmd">"Command"</label>
                    <input id="exec-cmd" bind:value=cmd disabled=connected/>
                </div>
                <button
                    class="primary"
                    data-testid="console-connect"
                    disabled=move || matches!(status.get(), Status::Loading | Status::Connected)
                    on:click=move |_| connect()
                >
                    "Connect"
                </button>
                <button disabled=move || !connected() on:click=move |_| session.set_value(None)>
                    "Disconnect"
                </button>
                <button disabled=move || !connected() on:click=copy title="Copy the selection">"Copy"</button>
                <button disabled=move || !connected() on:click=paste title="Paste from the clipboard">"Paste"</button>
                <button disabled=move || !connected() on:click=refit>"Fit"</button>
                <span class="hint" data-testid="console-status" role="status">
                    {move || match status.get() {
                        Status::Idle => "not connected".to_string(),
                        Status::Loading => "connecting…".to_string(),
                        Status::Connected => "connected".to_string(),
                        Status::Closed(r) => r,
                    }}
                </span>
            </div>
            <div class="terminal" node_ref=el data-testid="terminal"></div>
        </div>
    }
}
