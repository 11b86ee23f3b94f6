#!/usr/bin/env bash
# Builds the dashboard into frontend/dist/, which berth-server serves:
#
#   index.html                      no-cache; loads the hashed assets below
#   assets/berth-<hash>.js          wasm-bindgen glue   } content-hashed names:
#   assets/berth_bg-<hash>.wasm     the app, wasm-opt'd } the server may cache
#   assets/app-<hash>.css           styles/*.css        } them immutably
#   assets/{boot,theme}-<hash>.js   start-up (no inline script: CSP)
#   vendor/xterm/...                xterm.js + fit addon (npm, tools/), loaded
#                                   by the console when it opens
#   vendor/swagger-ui/...           swagger-ui-dist (npm, tools/), for the
#                                   server's /api/docs
#   *.gz                            gzip -9 copies next to every text/wasm file
#   manifest.json                   the names above, for the server and tests
#
# No cargo-leptos: plain cargo, wasm-bindgen (same version as the crate) and
# npm binaryen's wasm-opt (never Debian's; see docs/development.md).
# Fails loudly when a tool is missing and prints the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '\033[1m[frontend]\033[0m %s\n' "$*"; }
die() {
    printf '\033[1;31m[frontend] error:\033[0m %s\n' "$*" >&2
    exit 1
}

# --- tools ---------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup"
command -v gzip >/dev/null || die "gzip not found: apt-get install gzip"
command -v sha256sum >/dev/null || die "sha256sum not found: apt-get install coreutils"
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
    die "the wasm32-unknown-unknown target is missing: rustup target add wasm32-unknown-unknown (or scripts/setup.sh)"

lock_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$lock_version" ] || die "no wasm-bindgen in Cargo.lock"
wasm_bindgen=$(command -v wasm-bindgen || true)
[ -z "$wasm_bindgen" ] && [ -x "$HOME/.cargo/bin/wasm-bindgen" ] && wasm_bindgen=$HOME/.cargo/bin/wasm-bindgen
[ -n "$wasm_bindgen" ] ||
    die "wasm-bindgen not found: cargo install wasm-bindgen-cli --version $lock_version --locked (or scripts/setup.sh)"
cli_version=$("$wasm_bindgen" --version | awk '{print $2}')
[ "$cli_version" = "$lock_version" ] ||
    die "wasm-bindgen CLI is $cli_version but Cargo.lock has $lock_version: cargo install wasm-bindgen-cli --version $lock_version --locked --force"

wasm_opt=$root/tools/node_modules/.bin/wasm-opt
[ -x "$wasm_opt" ] || die "$wasm_opt not found: npm ci --prefix tools (or scripts/setup.sh)"
xterm_dir=$root/tools/node_modules/@xterm/xterm
fit_dir=$root/tools/node_modules/@xterm/addon-fit
swagger_dir=$root/tools/node_modules/swagger-ui-dist
for d in "$xterm_dir/lib" "$fit_dir/lib" "$swagger_dir"; do
    [ -d "$d" ] || die "$d not found: npm ci --prefix tools (or scripts/setup.sh)"
done
pkg_version() { sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/package.json" | head -n1; }
xterm_ver=$(pkg_version "$xterm_dir")
swagger_ver=$(pkg_version "$swagger_dir")

# --- compile ---------------------------------------------------------------------
log "cargo build -p berth-frontend (wasm32, profile wasm-release, erased component types)"
# `erase_components` makes Leptos box component types instead of nesting
# them: 13 % less wasm here (1.54 vs 1.72 MiB after wasm-opt).
RUSTFLAGS="${RUSTFLAGS:-} --cfg erase_components" \
    cargo build -p berth-frontend --target wasm32-unknown-unknown --profile wasm-release --locked
wasm_in=$root/target/wasm32-unknown-unknown/wasm-release/berth-frontend.wasm
[ -f "$wasm_in" ] || die "cargo did not produce $wasm_in"

stage=$(mktemp -d /tmp/berth-frontend.XXXXXX)
trap 'rm -rf "$stage"' EXIT

log "wasm-bindgen $cli_version --target web"
"$wasm_bindgen" --target web --no-typescript --out-dir "$stage" --out-name berth "$wasm_in"

log "wasm-opt -Oz ($("$wasm_opt" --version))"
"$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$stage/berth_bg.wasm" -o "$stage/berth_bg.opt.wasm"

# --- assemble dist/ -----------------------------------------------------------------
dist=$root/frontend/dist
new=$root/frontend/dist.new
rm -rf "$new"
mkdir -p "$new/assets" "$new/vendor"

hash_of() { sha256sum "$1" | cut -c1-16; }
# Subresource Integrity value of a file (the browser checks it before use).
sri_of() { printf 'sha384-%s' "$(openssl dgst -sha384 -binary "$1" | base64 -w0)"; }
command -v openssl >/dev/null || die "openssl not found: apt-get install openssl"
command -v base64 >/dev/null || die "base64 not found: apt-get install coreutils"

wasm_name=berth_bg-$(hash_of "$stage/berth_bg.opt.wasm").wasm
cp "$stage/berth_bg.opt.wasm" "$new/assets/$wasm_name"
js_name=berth-$(hash_of "$stage/berth.js").js
cp "$stage/berth.js" "$new/assets/$js_name"

ls styles/*.css >/dev/null 2>&1 || die "no stylesheets in styles/"
# Order: tokens (custom properties) first, then the rest alphabetically.
css_files=(styles/tokens.css)
for f in styles/*.css; do [ "$f" = styles/tokens.css ] || css_files+=("$f"); done
cat "${css_files[@]}" >"$stage/app.css"
css_name=app-$(hash_of "$stage/app.css").css
cp "$stage/app.css" "$new/assets/$css_name"

xterm_out=vendor/xterm
mkdir -p "$new/$xterm_out"
cp "$xterm_dir/lib/xterm.js" "$xterm_dir/css/xterm.css" "$fit_dir/lib/addon-fit.js" "$new/$xterm_out/"
cp "$xterm_dir/LICENSE" "$new/$xterm_out/LICENSE"

swagger_out=vendor/swagger-ui
mkdir -p "$new/$swagger_out"
cp "$swagger_dir"/{swagger-ui-bundle.js,swagger-ui-standalone-preset.js,swagger-ui.css,LICENSE} "$new/$swagger_out/"

# No inline script: the server's Content-Security-Policy allows only this
# origin's files. theme.js runs before the first paint (no flash of the wrong
# theme); boot.js starts the app.
cat >"$stage/theme.js" <<'EOF'
try { var t = localStorage.getItem('berth-theme'); if (t) document.documentElement.setAttribute('data-theme', t); } catch (e) {}
EOF
theme_name=theme-$(hash_of "$stage/theme.js").js
cp "$stage/theme.js" "$new/assets/$theme_name"
wasm_sri=$(sri_of "$new/assets/$wasm_name")
cat >"$stage/boot.js" <<EOF
import init from '/assets/$js_name';
init({ module_or_path: fetch('/assets/$wasm_name', { integrity: '$wasm_sri' }) });
EOF
boot_name=boot-$(hash_of "$stage/boot.js").js
cp "$stage/boot.js" "$new/assets/$boot_name"

css_sri=$(sri_of "$new/assets/$css_name")
js_sri=$(sri_of "$new/assets/$js_name")
theme_sri=$(sri_of "$new/assets/$theme_name")
boot_sri=$(sri_of "$new/assets/$boot_name")
vendor_sri=""
for f in "$new/$xterm_out"/xterm.js "$new/$xterm_out"/addon-fit.js "$new/$xterm_out"/xterm.css; do
    vendor_sri+="<meta name=\"berth-sri\" data-file=\"$(basename "$f")\" content=\"$(sri_of "$f")\">"$'\n'
done

cat >"$new/index.html" <<EOF
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="berth-xterm" content="/$xterm_out/">
$vendor_sri<title>Berth</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ctext y='14' font-size='14'%3E%E2%9A%93%3C/text%3E%3C/svg%3E">
<link rel="stylesheet" href="/assets/$css_name" integrity="$css_sri" crossorigin="anonymous">
<link rel="modulepreload" href="/assets/$js_name" integrity="$js_sri" crossorigin="anonymous">
<link rel="preload" href="/assets/$wasm_name" as="fetch" type="application/wasm" integrity="$wasm_sri" crossorigin="anonymous">
<script src="/assets/$theme_name" integrity="$theme_sri" crossorigin="anonymous"></script>
<script type="module" src="/assets/$boot_name" integrity="$boot_sri" crossorigin="anonymous"></script>
</head>
<body>
<noscript>Berth's dashboard needs JavaScript and WebAssembly.</noscript>
</body>
</html>
EOF


cat >"$new/manifest.json" <<EOF
{
  "index": "/index.html",
  "js": "/assets/$js_name",
  "wasm": "/assets/$wasm_name",
  "css": "/assets/$css_name",
  "xterm": "/$xterm_out/",
  "xterm_version": "$xterm_ver",
  "swagger_ui": "/$swagger_out/",
  "swagger_ui_version": "$swagger_ver"
}
EOF

# Precompressed copies for ServeDir::precompressed_gzip().
find "$new" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.json' \) \
    -exec gzip -9 -k -n {} \;

# Swap in atomically-ish: a server serving dist/ never sees a half-built tree.
rm -rf "$dist.old"
[ -d "$dist" ] && mv "$dist" "$dist.old"
mv "$new" "$dist"
rm -rf "$dist.old"

raw=$(stat -c %s "$wasm_in")
opt=$(stat -c %s "$dist/assets/$wasm_name")
gz=$(stat -c %s "$dist/assets/$wasm_name.gz")
js=$(stat -c %s "$dist/assets/$js_name")
css=$(stat -c %s "$dist/assets/$css_name")
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
log "wasm size: $(kib "$raw") from cargo, $(kib "$opt") after wasm-opt, $(kib "$gz") gzipped"
log "js glue $(kib "$js"), css $(kib "$css")"
log "built $dist"
