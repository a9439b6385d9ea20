"""The tree's dependency rules, recounted from the sources (docs/ARCHITECTURE.md).

1. Each third-party library is included by the one module that wraps it
   (OpenSSL: crypto.c and the SigV4 signer; libcurl: httpc.c; expat: xml.c;
   libmicrohttpd: http*.c; SQLite: store.c; iniparser: config.c; libsystemd:
   pokyd's main.c). jansson is the JSON value type of everything above the
   common layer, so only src/common and its headers must not include it.
2. libpoky (src/common, src/aws) has no import circle: following calls
   from module to module never comes back. The files that share
   creds_internal.h (the chain, its providers, and sts.c, which they call
   and which checks what STS gives with the chain's helpers) count as one
   module: a chain calls its providers and they use its helpers.

Reads files only. POKY_SOURCE_ROOT points it at another checkout (how it
was shown to fail on the tree before the split of aws/profile.c).
"""
import os
import pathlib
import re

ROOT = pathlib.Path(os.environ.get("POKY_SOURCE_ROOT",
                                   pathlib.Path(__file__).resolve().parents[2]))

# library: (how its #include starts, the files allowed to include it)
WRAPPED = {
    "OpenSSL": ("openssl/", {"src/common/crypto.c", "src/aws/sigv4.c"}),
    "libcurl": ("curl/", {"src/common/httpc.c"}),
    "expat": ("expat.h", {"src/common/xml.c"}),
    # The HTTP module: http.c and its parts, and their private header.
    "libmicrohttpd": ("microhttpd.h", {
        "src/daemon/http.c", "src/daemon/http_conn.c", "src/daemon/http_auth.c",
        "src/daemon/http_send.c", "src/daemon/http_offload.c",
        "src/daemon/http_log.c", "src/daemon/http_internal.h"}),
    "SQLite": ("sqlite3.h", {"src/daemon/store.c"}),
    "iniparser": ("iniparser.h", {"src/daemon/config.c"}),
    "libsystemd": ("systemd/", {"src/daemon/main.c"}),
}

SYS_INCLUDE = re.compile(r'^\s*#\s*include\s*<([^>]+)>', re.M)
POKY_INCLUDE = re.compile(r'^\s*#\s*include\s*"(?:poky/)?([a-z0-9_]+)\.h"', re.M)


def sources():
    for top in ("src", "include"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.suffix in (".c", ".h"):
                yield p.relative_to(ROOT).as_posix(), p.read_text(errors="replace")


def common_modules():
    return {p.stem for p in (ROOT / "src" / "common").glob("*.c")}


def test_each_library_is_included_by_its_wrapper_only():
    bad = []
    for rel, text in sources():
        for inc in SYS_INCLUDE.findall(text):
            for lib, (prefix, allowed) in WRAPPED.items():
                if inc.startswith(prefix) and rel not in allowed:
                    bad.append(f"{rel} includes <{inc}> ({lib} belongs to "
                               f"{', '.join(sorted(allowed))})")
    assert not bad, "\n".join(bad)


def test_jansson_stays_above_the_common_layer():
    common = common_modules()
    bad = []
    for rel, text in sources():
        below = rel.startswith("src/common/") or (
            rel.startswith("include/poky/") and pathlib.Path(rel).stem in common)
        if below and "jansson.h" in SYS_INCLUDE.findall(text):
            bad.append(f"{rel} includes <jansson.h>")
    assert not bad, "\n".join(bad)


DEFINED = re.compile(r"^([a-z_][a-z0-9_]*)\(", re.M)
STATIC_FN = re.compile(r"^static\b[^;{]*\n([a-z_][a-z0-9_]*)\(", re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def libpoky_graph():
    """module -> the modules whose functions it calls.

    A module is one .c file of src/common or src/aws; a function is
    defined where its name starts a line (the tree's style); a call is the
    name followed by "(" anywhere in another module's code."""
    code = {}
    for d in ("common", "aws"):
        for p in (ROOT / "src" / d).glob("*.c"):
            code[p.stem] = COMMENT.sub("", p.read_text(errors="replace"))
    owner = {}
    for m, text in code.items():
        static = set(STATIC_FN.findall(text))
        for fn in DEFINED.findall(text):
            if fn not in static:
                owner[fn] = m
    call = re.compile(r"\b(" + "|".join(sorted(owner, key=len, reverse=True)) +
                      r")\s*\(")
    family = {m: ("creds" if '#include "creds_internal.h"' in text else m)
              for m, text in code.items()}
    graph = {}
    for m, text in code.items():
        edges = {family[owner[f]] for f in call.findall(text)}
        graph.setdefault(family[m], set()).update(edges - {family[m]})
    return graph


def find_circle(graph):
    state = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n, path + [n])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None


def test_libpoky_has_no_import_circle():
    circle = find_circle(libpoky_graph())
    assert circle is None, "import circle: " + " -> ".join(circle)
