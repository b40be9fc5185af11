//! The shape of the code, checked from its own source: no import cycles
//! between files of a crate, the server's top-level modules in layers,
//! bevy_ecs only inside the core, and no source file over the size a reader
//! takes in at once. Reads the `.rs` files as text; builds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Lines of code (outside comments, blank lines and `#[cfg(test)]` items)
/// a source file may hold.
const MAX_CODE_LINES: usize = 400;

/// The server's top-level modules, lowest layer first: a module may use
/// modules of its own or a lower layer, never a higher one.
const LAYERS: &[&[&str]] = &[
    &["config", "usage", "slice"],
    &["cli", "engine"],
    &["rdns", "media", "cluster"],
    &["signaling"],
    &["exporter", "admin", "app", "listen"],
    &["connect", "server", "fuzzing"],
];

/// The crates' source roots, relative to the workspace.
const CRATE_ROOTS: &[&str] = &["src", "systems/src", "sim/src"];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments removed and string and char literals emptied,
/// so that neither can be mistaken for code.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            out.push('\n');
                        }
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    if b[j] == b'\n' {
                        out.push('\n');
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j + close.len();
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                out.push_str("\"\"");
                i += 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if b.get(i + 1) == Some(&b'\\') {
                    let mut j = i + 2;
                    while j < b.len() && b[j] != b'\'' {
                        j += 1;
                    }
                    out.push_str("' '");
                    i = j + 1;
                } else if let Some(c) = src[i + 1..].chars().next()
                    && src[i + 1 + c.len_utf8()..].starts_with('\'')
                {
                    out.push_str("' '");
                    i += 2 + c.len_utf8();
                } else {
                    out.push('\'');
                    i += 1;
                }
            }
            _ => {
                let c = src[i..].chars().next().expect("char");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The stripped source without `#[cfg(test)]` items (test modules and
/// test-only functions).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its closing brace, or at a `;` before any brace
        // (`mod tests;`).
        let brace = item.find('{');
        let semi = item.find(';');
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => s + 1,
            (None, Some(s)) => s + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, c) in item[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn code_lines(src: &str) -> usize {
    without_tests(&strip(src))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// A file's module path inside its crate (`src/a/b.rs` and `src/a/b/mod.rs`
/// are `[a, b]`; `lib.rs` and `main.rs` are the root).
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).expect("under root");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") || !parts.is_empty() && stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path of a use tree (`a::{b, c::{d, e}}` gives `a::b`, `a::c::d`,
/// `a::c::e`), as segments.
fn expand_use(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = prefix
            .iter()
            .cloned()
            .chain(
                tree[..open]
                    .split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            )
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').expect("closing brace")];
        let mut depth = 0;
        let mut start = 0;
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..k], &head, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand_use(&inner[start..], &head, out);
    } else {
        let path = tree.split(" as ").next().expect("path");
        let mut segs: Vec<String> = prefix.to_vec();
        segs.extend(
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        out.push(segs);
    }
}

/// The crate-internal paths a file names: its `use` trees and the
/// `crate::`/`super::`/`self::` paths written inline.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        let boundary = k == 0 || !is_ident(chars[k - 1].1);
        if boundary && c == 'u' && code[at..].starts_with("use ") {
            let end = code[at..].find(';').map_or(code.len(), |e| at + e);
            expand_use(&code[at + 4..end], &[], &mut out);
            while k < chars.len() && chars[k].0 < end {
                k += 1;
            }
            continue;
        }
        if boundary
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|p| code[at..].starts_with(p))
        {
            let len = code[at..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - at);
            out.push(
                code[at..at + len]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
            while k < chars.len() && chars[k].0 < at + len {
                k += 1;
            }
            continue;
        }
        k += 1;
    }
    out
}

/// One crate's files and the file-to-file edges of their imports. A file's
/// imports of its own submodules are left out: a parent re-exporting its
/// children is how a Rust module shows its face, not a cycle.
struct CrateGraph {
    files: BTreeMap<Vec<String>, PathBuf>,
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn crate_graph(root: &Path) -> CrateGraph {
    let mut paths = Vec::new();
    rust_files(root, &mut paths);
    let mut files = BTreeMap::new();
    let mut sources = Vec::new();
    for file in &paths {
        // `main.rs` beside `lib.rs` is its own crate, using the library by name.
        if file.file_name().is_some_and(|n| n == "main.rs") && root.join("lib.rs").exists() {
            continue;
        }
        let module = module_path(root, file);
        sources.push((module.clone(), fs::read_to_string(file).expect("read")));
        files.insert(module, file.clone());
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, src) in &sources {
        let is_mod_file = files[module]
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        for path in named_paths(&strip(src)) {
            let mut abs: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => Vec::new(),
                Some("self") => module.clone(),
                Some("super") => {
                    let mut m = module.clone();
                    m.pop();
                    m
                }
                // `use child::X` inside a mod.rs names its own child.
                Some(first)
                    if is_mod_file
                        && files
                            .contains_key(&[module.clone(), vec![first.to_owned()]].concat()) =>
                {
                    module.clone()
                }
                _ => continue,
            };
            let mut segs = path.iter().skip(usize::from(matches!(
                path[0].as_str(),
                "crate" | "self" | "super"
            )));
            for seg in segs.by_ref() {
                if seg == "super" {
                    abs.pop();
                } else {
                    abs.push(seg.clone());
                }
            }
            while !abs.is_empty() && !files.contains_key(&abs) {
                abs.pop();
            }
            if abs == *module || abs.starts_with(module) {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(abs);
        }
    }
    CrateGraph { files, edges }
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(graph: &CrateGraph) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a CrateGraph,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.graph.edges.get(v) {
            for w in next {
                let w = s.graph.files.get_key_value(w).expect("known file").0;
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().expect("on stack");
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.files.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_import_cycles_between_files() {
    let mut found = Vec::new();
    for root in CRATE_ROOTS {
        let root = workspace().join(root);
        let graph = crate_graph(&root);
        for component in cycles(&graph) {
            let names: Vec<String> = component
                .iter()
                .map(|m| {
                    graph.files[m]
                        .strip_prefix(workspace())
                        .unwrap()
                        .display()
                        .to_string()
                })
                .collect();
            found.push(names.join(" <-> "));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let dir = std::env::temp_dir().join(format!("ejtimaa-structure-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("a")).unwrap();
    fs::write(dir.join("lib.rs"), "mod a;\n").unwrap();
    fs::write(dir.join("a/mod.rs"), "mod b;\nmod c;\npub use b::B;\n").unwrap();
    fs::write(dir.join("a/b.rs"), "use super::c::C;\npub struct B(C);\n").unwrap();
    fs::write(
        dir.join("a/c.rs"),
        "// use super::b::B; in a comment is no import\npub struct C(Box<crate::a::b::B>);\n",
    )
    .unwrap();
    let found = cycles(&crate_graph(&dir));
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "a::b and a::c import each other: {found:?}");
    assert_eq!(found[0].len(), 2);
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn server_modules_depend_in_layers() {
    let root = workspace().join("src");
    let graph = crate_graph(&root);
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        let Some(top) = from.first() else { continue };
        let Some(from_layer) = layer_of(top) else {
            wrong.push(format!("src/{top}: a top-level module missing from LAYERS"));
            continue;
        };
        for to in targets {
            let Some(target) = to.first() else { continue };
            if target == top {
                continue;
            }
            match layer_of(target) {
                Some(l) if l <= from_layer => {}
                _ => wrong.push(format!(
                    "{} uses {target}, a higher layer",
                    graph.files[from]
                        .strip_prefix(workspace())
                        .unwrap()
                        .display()
                )),
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn bevy_stays_inside_the_core() {
    let mut found = Vec::new();
    for root in ["src", "sim/src"] {
        let mut files = Vec::new();
        rust_files(&workspace().join(root), &mut files);
        for file in files {
            let code = strip(&fs::read_to_string(&file).unwrap());
            if code.contains("bevy_ecs") || code.contains("bevy::") {
                found.push(
                    file.strip_prefix(workspace())
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(found.is_empty(), "bevy used outside systems/: {found:?}");
}

#[test]
fn source_files_stay_small() {
    let mut big = Vec::new();
    for root in CRATE_ROOTS.iter().chain(&["benches"]) {
        let mut files = Vec::new();
        rust_files(&workspace().join(root), &mut files);
        for file in files {
            let lines = code_lines(&fs::read_to_string(&file).unwrap());
            if lines > MAX_CODE_LINES {
                big.push(format!(
                    "{}: {lines} lines of code",
                    file.strip_prefix(workspace()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        big.is_empty(),
        "over {MAX_CODE_LINES} lines of code outside tests:\n{}",
        big.join("\n")
    );
}

#[test]
fn code_lines_leave_out_comments_strings_and_tests() {
    let src = "//! doc\n/* a\n b */\nfn f() {\n    let s = \"// not a comment\n\";\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
    assert_eq!(code_lines(src), 4, "{:?}", without_tests(&strip(src)));
}
