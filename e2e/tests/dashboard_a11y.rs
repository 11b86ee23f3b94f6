//! WCAG AA in a real browser, in the light and the dark theme: the contrast
//! of every visible piece of text (and of input placeholders) against what
//! is actually painted under it, and a visible focus indicator on every
//! stop of the keyboard's Tab order, on the overview, hosts, a host page,
//! containers, a container page (stats and logs), images, admin users and
//! the login page. Figures go to target/e2e/dashboard-metrics.json.

use anyhow::{Result, bail, ensure};
use berth_e2e::browser::{
    Browser, OWNER_PASSWORD, import_busybox, owner_stack, record_metric, run_container,
};
use berth_e2e::is_root;
use serde_json::{Value, json};

/// Walks every visible element with its own text and measures its WCAG 2.x
/// contrast ratio. The background is what the browser paints under the text:
/// `document.elementsFromPoint` at three points of the text's box (left,
/// middle, right; the worst counts) gives the stack of boxes under it,
/// siblings included (a bar's label over its fill), composited bottom-up
/// over the canvas with each box's alpha times its and its ancestors'
/// opacity. When the text is covered or not hit-testable, its DOM ancestors
/// are the stack. Text fields' boundaries are checked against 3:1 (WCAG
/// 1.4.11). Returns `{checked, min, worst, offenders, skipped, fields,
/// min_boundary}`.
const CONTRAST_JS: &str = r#"
const cvs = document.createElement('canvas'); cvs.width = cvs.height = 1;
const ctx = cvs.getContext('2d', {willReadFrequently: true});
function parse(c) {
  let m = /^rgba?\(([^)]*)\)$/.exec(c);
  if (m) {
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  // color(srgb ...), oklch(...), color-mix(...): let the canvas convert it.
  ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = c; ctx.fillRect(0, 0, 1, 1);
  const d = ctx.getImageData(0, 0, 1, 1).data;
  return [d[0], d[1], d[2], d[3] / 255];
}
const over = (top, below) => {
  const a = top[3];
  return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]);
};
function lum(c) {
  const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}
function ratio(a, b) {
  const x = lum(a), y = lum(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}
const hex = c => '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
function opacityOf(el) {
  let o = 1;
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
  return o;
}
function path(el) {
  const parts = [];
  for (let e = el; e && e.nodeType === 1 && parts.length < 4 && e !== document.body; e = e.parentElement) {
    let s = e.tagName.toLowerCase();
    if (e.id) s += '#' + e.id;
    const cls = (typeof e.className === 'string' ? e.className : '').trim().split(/\s+/).filter(Boolean).slice(0, 2);
    if (cls.length) s += '.' + cls.join('.');
    const t = e.getAttribute('data-testid');
    if (t) s += `[data-testid=${t}]`;
    parts.unshift(s);
  }
  return parts.join(' > ');
}
// The canvas colour: the root's background, else the body's (CSS
// propagation), over white.
function canvasColor() {
  let c = [255, 255, 255, 1];
  const r = parse(getComputedStyle(document.documentElement).backgroundColor);
  const b = parse(getComputedStyle(document.body).backgroundColor);
  return over(r[3] > 0 ? r : b, c);
}
// Composites the boxes of `stack` (top first) over the canvas; null when one
// of them paints an image or gradient (no single background colour).
function paintBelow(stack) {
  let c = canvasColor();
  for (let i = stack.length - 1; i >= 0; i--) {
    const e = stack[i];
    if (e === document.documentElement || e === document.body) continue;
    const cs = getComputedStyle(e);
    if (cs.backgroundImage && cs.backgroundImage !== 'none') return null;
    const bg = parse(cs.backgroundColor);
    if (bg[3] === 0) continue;
    bg[3] *= opacityOf(e);
    c = over(bg, c);
  }
  return c;
}
function ancestors(el) {
  const s = [];
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) s.push(e);
  return s;
}
function stackAt(el, x, y) {
  const hit = document.elementsFromPoint(x, y);
  const i = hit.indexOf(el);
  return i < 0 ? null : hit.slice(i);
}
const results = [], boundaries = [];
let skipped = {disabled: 0, image: 0, offscreen: 0};
function check(el, what, text, fgColor) {
  const cs = getComputedStyle(el);
  const size = parseFloat(cs.fontSize), weight = parseInt(cs.fontWeight, 10) || 400;
  const large = size >= 24 || (size >= 18.66 && weight >= 700);
  const need = large ? 3 : 4.5;
  let r = el.getBoundingClientRect();
  if (r.bottom < 0 || r.top > innerHeight || r.right < 0 || r.left > innerWidth) {
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    r = el.getBoundingClientRect();
  }
  // Off the page on purpose (the skip link until focused).
  if (r.right <= 0 || r.bottom <= 0 || r.left >= document.documentElement.scrollWidth) { skipped.offscreen++; return; }
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const xs = [r.left + 2, r.left + r.width / 2, r.right - 2].map(x => Math.min(Math.max(x, 0), innerWidth - 1));
  let worst = null;
  for (const x of xs) {
    const stack = stackAt(el, x, y) || ancestors(el);
    const bg = paintBelow(stack);
    if (!bg) { skipped.image++; return; }
    const fg = parse(fgColor);
    fg[3] *= opacityOf(el);
    const shown = over(fg, bg);
    const q = ratio(shown, bg);
    if (!worst || q < worst.ratio) worst = {ratio: q, fg: hex(shown), bg: hex(bg)};
  }
  results.push({path: path(el), what, text: text.slice(0, 40), size, weight, large, need,
                fg: worst.fg, bg: worst.bg, ratio: Math.round(worst.ratio * 100) / 100});
}
for (const el of document.querySelectorAll('body *')) {
  if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'OPTION'].includes(el.tagName)) continue;
  // SVG text is painted with `fill`, not `color`; the graphs draw none (their
  // labels are HTML), so SVG is left to the graph tests.
  if (el.closest('svg')) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility !== 'visible' || cs.display === 'none') continue;
  const rect = el.getBoundingClientRect();
  if (rect.width <= 1 || rect.height <= 1) continue;   // visually-hidden
  // WCAG 1.4.3 exempts inactive controls.
  if (el.closest(':disabled, [aria-disabled=true]')) {
    skipped.disabled++;
    continue;
  }
  if (opacityOf(el) === 0) continue;
  const own = Array.from(el.childNodes)
    .filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (own) check(el, 'text', own, cs.color);
  const isField = el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT';
  // WCAG 1.4.11: a text field's boundary (its border, or its own
  // background) needs 3:1 against what is around it, or the field can't be
  // seen. Checkboxes, radios and file pickers are drawn by the browser.
  if (isField && !['checkbox', 'radio', 'range', 'color', 'hidden', 'file'].includes(el.type)) {
    const around = paintBelow(ancestors(el.parentElement));
    if (around) {
      const border = over(parse(cs.borderTopColor), around);
      const fill = over(parse(cs.backgroundColor), around);
      const width = parseFloat(cs.borderTopWidth);
      const q = Math.max(width >= 1 ? ratio(border, around) : 1, ratio(fill, around));
      boundaries.push({path: path(el), what: 'boundary', text: el.id || el.name || el.type,
                       size: width, weight: 0, large: false, need: 3,
                       fg: hex(border), bg: hex(around), ratio: Math.round(q * 100) / 100});
    }
  }
  if (isField && !['checkbox', 'radio', 'range', 'color', 'hidden'].includes(el.type)) {
    if (el.tagName === 'SELECT') {
      const o = el.selectedOptions[0];
      if (o && o.textContent.trim()) check(el, 'value', o.textContent.trim(), cs.color);
    } else if (el.value) {
      check(el, 'value', el.value, cs.color);
    } else if (el.placeholder) {
      check(el, 'placeholder', el.placeholder, getComputedStyle(el, '::placeholder').color);
    }
  }
}
scrollTo(0, 0);
const offenders = results.concat(boundaries).filter(r => r.ratio < r.need);
const minBoundary = boundaries.reduce((m, r) => Math.min(m, r.ratio), Infinity);
const min = results.reduce((m, r) => Math.min(m, r.ratio), Infinity);
const worst = results.slice().sort((a, b) => a.ratio - b.ratio)[0] || null;
return {checked: results.length, min: results.length ? min : null, worst, offenders, skipped,
        fields: boundaries.length, min_boundary: boundaries.length ? minBoundary : null};
"#;

/// Remembers the unfocused look of every focusable element, for
/// [`FOCUS_JS`].
const REMEMBER_JS: &str = r#"
document.activeElement && document.activeElement.blur();
window.__unfocused = new WeakMap();
const props = ['outlineStyle', 'outlineWidth', 'outlineColor', 'boxShadow', 'borderColor', 'backgroundColor'];
for (const e of document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')) {
  const cs = getComputedStyle(e);
  window.__unfocused.set(e, Object.fromEntries(props.map(p => [p, cs[p]])));
}
return true;
"#;

/// The focused element after a Tab: is its focus visible? An outline that
/// is drawn (style not none, width > 0, not transparent) or a box-shadow,
/// either different from the unfocused look, and a ring colour with at
/// least 3:1 against the background around the element (WCAG 1.4.11).
const FOCUS_JS: &str = r#"
const a = document.activeElement;
if (!a || a === document.body) return {tag: null};
const cs = getComputedStyle(a);
const before = (window.__unfocused && window.__unfocused.get(a)) || null;
const now = {outlineStyle: cs.outlineStyle, outlineWidth: cs.outlineWidth, outlineColor: cs.outlineColor,
             boxShadow: cs.boxShadow, borderColor: cs.borderColor, backgroundColor: cs.backgroundColor};
const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 && !/rgba\([^)]*,\s*0\)$/.test(cs.outlineColor);
const shadow = cs.boxShadow !== 'none';
const changed = !before || Object.keys(now).some(k => now[k] !== before[k]);
// Background around the element: its parent's painted colour.
function parse(c) { const m = /^rgba?\(([^)]*)\)$/.exec(c); if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
function lum(c) { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
let bg = [255, 255, 255];
const layers = [];
for (let e = a.parentElement; e; e = e.parentElement) layers.push(parse(getComputedStyle(e).backgroundColor));
for (const l of layers.reverse()) if (l && l[3] > 0) bg = [0, 1, 2].map(i => l[i] * l[3] + bg[i] * (1 - l[3]));
const ring = parse(outline ? cs.outlineColor : (cs.boxShadow.match(/rgba?\([^)]*\)/) || [''])[0]);
let ringRatio = null;
if (ring) { const x = lum(ring), y = lum(bg); ringRatio = Math.round((Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05) * 100) / 100; }
let label = a.tagName.toLowerCase() + (a.id ? '#' + a.id : '') + (a.className && typeof a.className === 'string' ? '.' + a.className.trim().split(/\s+/).join('.') : '');
if (!a.dataset.a11yStop) a.dataset.a11yStop = String(window.__stops = (window.__stops || 0) + 1);
return {stop: a.dataset.a11yStop, tag: label, text: (a.innerText || a.value || a.getAttribute('aria-label') || '').trim().slice(0, 30),
        visible: (outline || shadow) && changed, outline, shadow, changed, ringRatio};
"#;

const TAB: char = '\u{E004}';
/// At most this many Tab stops per page (the walk ends early when the focus
/// wraps around to a stop it has seen): the frame (skip link, menu, top
/// bar) and the page's controls.
const TAB_STOPS: usize = 30;

/// One theme's totals over every page, for the summary line and the
/// metrics file.
struct Figures {
    checked: u64,
    min: f64,
    focus_stops: u64,
    min_ring: f64,
    fields: u64,
    min_boundary: f64,
}

/// Switches to `theme` the way a user does, with the top bar's button.
async fn set_theme(b: &Browser, theme: &str) -> Result<()> {
    let now = b
        .eval("return document.documentElement.getAttribute('data-theme') || '';")
        .await?;
    if now != theme {
        b.click(&format!("button[aria-label='Switch to {theme} theme']"))
            .await?;
    }
    let now = b
        .eval("return document.documentElement.getAttribute('data-theme');")
        .await?;
    ensure!(now == theme, "the theme is {now}, wanted {theme}");
    Ok(())
}

/// Adds one [`CONTRAST_JS`] answer to the figures and its offenders to
/// `problems`.
fn contrast(
    v: &Value,
    theme: &str,
    page: &str,
    figures: &mut Figures,
    problems: &mut Vec<String>,
) -> Result<()> {
    let checked = v["checked"].as_u64().unwrap_or(0);
    ensure!(checked > 0, "{theme} {page}: no text found to check: {v}");
    figures.checked += checked;
    if let Some(m) = v["min"].as_f64() {
        figures.min = figures.min.min(m);
    }
    figures.fields += v["fields"].as_u64().unwrap_or(0);
    if let Some(m) = v["min_boundary"].as_f64() {
        figures.min_boundary = figures.min_boundary.min(m);
    }
    eprintln!(
        "  {theme} {page}: {checked} checked, min {} ({}), skipped {}",
        v["min"], v["worst"], v["skipped"]
    );
    for o in v["offenders"].as_array().into_iter().flatten() {
        problems.push(format!(
            "contrast {theme} {page}: {} {:?} {} on {} = {}:1 (needs {}:1, {}px/{}) at {}",
            o["what"].as_str().unwrap_or_default(),
            o["text"].as_str().unwrap_or_default(),
            o["fg"].as_str().unwrap_or_default(),
            o["bg"].as_str().unwrap_or_default(),
            o["ratio"],
            o["need"],
            o["size"],
            o["weight"],
            o["path"].as_str().unwrap_or_default(),
        ));
    }
    Ok(())
}

async fn audit(
    b: &Browser,
    theme: &str,
    page: &str,
    figures: &mut Figures,
    problems: &mut Vec<String>,
) -> Result<()> {
    let v = b.eval(CONTRAST_JS).await?;
    contrast(&v, theme, page, figures, problems)?;
    // A usage bar's label sits over its fill: what it shows depends on the
    // usage of the moment (a few % on an idle test host). Check it over a
    // full bar of each colour too (normal, mid, high).
    if b.exists(".bar-fill").await? {
        for class in ["", "mid", "high"] {
            b.eval(&format!(
                "document.querySelectorAll('.bar-fill').forEach(f => {{ \
                   f.style.transition = 'none'; f.style.width = '100%'; \
                   f.classList.remove('mid', 'high'); if ('{class}') f.classList.add('{class}'); }}); \
                 return true;"
            ))
            .await?;
            let v = b.eval(CONTRAST_JS).await?;
            let what = format!(
                "{page} (bars full{}{class})",
                if class.is_empty() { "" } else { ", " }
            );
            contrast(&v, theme, &what, figures, problems)?;
        }
        b.screenshot(&format!("bars-full-high-{theme}")).await?;
    }

    // Focus: from the top of the page, Tab through the first stops.
    b.eval(REMEMBER_JS).await?;
    let mut seen = Vec::new();
    for _ in 0..TAB_STOPS {
        b.press_key(TAB).await?;
        let f = b.eval(FOCUS_JS).await?;
        let Some(tag) = f["tag"].as_str() else {
            continue;
        };
        let stop = f["stop"].as_str().unwrap_or_default().to_string();
        if seen.contains(&stop) {
            // Wrapped around to the first stops.
            break;
        }
        seen.push(stop);
        figures.focus_stops += 1;
        if f["visible"] != json!(true) {
            problems.push(format!(
                "focus {theme} {page}: no visible focus on {tag} {f}"
            ));
        }
        if let Some(r) = f["ringRatio"].as_f64() {
            figures.min_ring = figures.min_ring.min(r);
            if r < 3.0 {
                problems.push(format!(
                    "focus {theme} {page}: the focus ring of {tag} has {r}:1 against its background (needs 3:1)"
                ));
            }
        }
    }
    ensure!(
        !seen.is_empty(),
        "{theme} {page}: Tab reached no focusable element"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_contrast_and_focus_in_both_themes() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("the agent needs root");
        return Ok(());
    }
    let (stack, host) = owner_stack().await?;
    let image = import_busybox(&stack, &host.id).await?;
    run_container(
        &stack,
        &host.id,
        "a11y",
        &image,
        &[
            "sh",
            "-c",
            "i=0; while true; do echo line-$i; echo err-$i >&2; i=$((i+1)); sleep 1; done",
        ],
    )
    .await?;
    let b = Browser::start(&stack.url, "a11y").await?;
    let r = async {
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        let pages = [
            ("/".to_string(), "[data-testid=hosts-online]"),
            ("/hosts".to_string(), "[data-testid=hosts-table]"),
            (format!("/hosts/{}", host.id), "main h1"),
            ("/containers".to_string(), "[data-testid=containers-table]"),
            (format!("/hosts/{}/containers/a11y", host.id), "[data-testid=container-state]"),
            (format!("/hosts/{}/images", host.id), "main h1"),
            ("/admin/users".to_string(), "main h1"),
        ];
        for theme in ["light", "dark"] {
            let mut fig = Figures {
                checked: 0,
                min: f64::INFINITY,
                focus_stops: 0,
                min_ring: f64::INFINITY,
                fields: 0,
                min_boundary: f64::INFINITY,
            };
            // Logged out: the login page.
            b.goto("/login").await?;
            b.wait("#login-username").await?;
            set_theme_on_login(&b, theme).await?;
            audit(&b, theme, "/login", &mut fig, &mut problems).await?;
            b.screenshot(&format!("login-{theme}")).await?;
            b.login("admin", OWNER_PASSWORD).await?;
            for (page, marker) in &pages {
                b.goto(page).await?;
                b.wait(marker).await?;
                set_theme(&b, theme).await?;
                // The page's first data is in (tables, graphs): no
                // "Loading…"/"Measuring…" placeholder is left.
                b.wait_until(
                    &format!("{page} to finish loading"),
                    "return !document.querySelector('.loading');",
                )
                .await?;
                audit(&b, theme, page, &mut fig, &mut problems).await?;
                if page.contains("/containers/a11y") {
                    b.screenshot(&format!("container-{theme}")).await?;
                    b.click("[data-testid=tab-logs]").await?;
                    b.wait_text("[data-testid=log-view]", "line-1").await?;
                    audit(&b, theme, &format!("{page} (logs)"), &mut fig, &mut problems).await?;
                }
            }
            b.goto("/").await?;
            b.wait("[data-testid=hosts-online]").await?;
            b.screenshot(&format!("overview-{theme}")).await?;
            b.click("[data-testid=logout]").await?;
            b.wait("#login-username").await?;
            let line = format!(
                "{theme}: {} elements checked, min ratio {:.2}; {} fields, min boundary ratio {:.2}; {} focus stops, min ring ratio {:.2}",
                fig.checked, fig.min, fig.fields, fig.min_boundary, fig.focus_stops, fig.min_ring
            );
            record_metric(
                &format!("a11y_{theme}"),
                json!({"text_checked": fig.checked, "min_contrast": fig.min,
                       "fields": fig.fields, "min_field_boundary_contrast": fig.min_boundary,
                       "focus_stops": fig.focus_stops, "min_focus_ring_contrast": fig.min_ring}),
            )?;
            summary.push(line);
        }
        eprintln!("CONTRAST {}", summary.join("; "));
        if !problems.is_empty() {
            bail!("{} WCAG AA failures:\n{}", problems.len(), problems.join("\n"));
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    b.finish(r, &stack).await
}

/// The login page has no theme button of its own in every build; the
/// dashboard stores the choice under `berth-theme` and applies it on load,
/// which is what the switch does too.
async fn set_theme_on_login(b: &Browser, theme: &str) -> Result<()> {
    let button = format!("button[aria-label='Switch to {theme} theme']");
    if b.exists(&button).await? {
        let now: Value = b
            .eval("return document.documentElement.getAttribute('data-theme') || '';")
            .await?;
        if now != theme {
            b.click(&button).await?;
        }
    } else {
        b.eval(&format!(
            "localStorage.setItem('berth-theme', '{theme}'); return true;"
        ))
        .await?;
        b.goto("/login").await?;
        b.wait("#login-username").await?;
    }
    let now = b
        .eval("return document.documentElement.getAttribute('data-theme') || '';")
        .await?;
    ensure!(now == theme, "login page theme is {now:?}, wanted {theme}");
    Ok(())
}
