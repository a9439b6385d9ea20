"""The man pages in docs/man/ (mdoc): lint-clean, complete, installed.

`mandoc -Tlint -W warning` (Debian's mandoc) must report nothing for each page.
The pages cannot drift from the programs: every option of each binary's --help
and of its getopt_long table (read from the source), every variable of
poky-worker --help, and every key of the key tables in src/daemon/config.c must
appear in the right page (a config key in its section's part of pokyd.ini.5),
in the text mandoc renders.  `make install` puts them under
$(PREFIX)/share/man/man{1,5,8}.
"""
import pathlib
import re
import subprocess

import pytest

from conftest import ROOT

MAN = ROOT / "docs" / "man"
PAGES = {"pokyd": "pokyd.8", "poky-worker": "poky-worker.1", "poky-sign": "poky-sign.1"}
SOURCES = {"pokyd": "src/daemon/main.c", "poky-worker": "src/worker/main.c",
           "poky-sign": "src/tools/poky-sign.c"}
# config.c's table -> the section of pokyd.ini.5 that documents it.
SECTIONS = {"server": "SERVER SECTION", "aws": "AWS SECTION", "tracker": "TRACKER SECTION",
            "store": "STORE SECTION", "tmpl": "TEMPLATE SECTIONS"}


def render(page: str) -> str:
    p = subprocess.run(["mandoc", "-Tascii", str(MAN / page)], capture_output=True,
                       text=True, timeout=30, check=True)
    # Backspace overstrike (bold, underline) -> plain text.
    return re.sub(r".\x08", "", p.stdout)


def has_word(text: str, word: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize("page", sorted(p.name for p in MAN.glob("*.[158]")))
def test_page_is_lint_clean(page):
    p = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(MAN / page)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stdout + p.stderr


def test_all_five_pages_exist():
    assert sorted(p.name for p in MAN.iterdir()) == [
        "poky-sign.1", "poky-worker.1", "poky.1", "pokyd.8", "pokyd.ini.5"]


def options_of(binary: pathlib.Path, source: pathlib.Path) -> set:
    text = subprocess.run([str(binary), "--help"], capture_output=True, text=True,
                          timeout=30, check=True).stdout
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    opts |= set(re.findall(r"(?<![\w-])(-[a-zA-Z])(?![\w-])", text))
    # getopt_long's table: options --help leaves out are options all the same.
    table = re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument',
                       source.read_text())
    return opts | {"--" + o for o in table}


@pytest.mark.parametrize("prog", sorted(PAGES))
def test_every_option_is_in_the_page(bindir, prog):
    opts = options_of(bindir / prog, ROOT / SOURCES[prog])
    assert "--help" in opts and "--version" in opts, opts     # the parser works
    text = render(PAGES[prog])
    missing = sorted(o for o in opts if not has_word(text, o))
    assert missing == [], f"{PAGES[prog]} lacks {missing}"


def test_every_worker_variable_is_in_the_page(bindir):
    text = subprocess.run([str(bindir / "poky-worker"), "--help"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    names = set(re.findall(r"\b((?:POKY|SOURCE|OUTPUT|DELETE|AWS)_[A-Z0-9_]*[A-Z0-9])\b", text))
    assert {"SOURCE_BUCKET", "POKY_LOCAL_ROOT", "AWS_ENDPOINT_URL_S3"} <= names, names
    page = render("poky-worker.1")
    missing = sorted(n for n in names if not has_word(page, n))
    assert missing == [], f"poky-worker.1 lacks {missing}"


def config_key_tables() -> dict:
    src = (ROOT / "src" / "daemon" / "config.c").read_text()
    tables = {}
    for name, body in re.findall(r"static const char \*const (\w+)_keys\[\] = \{(.*?)NULL \};",
                                 src, re.S):
        tables[name] = re.findall(r'"([a-z_]+)"', body)
    return tables


def test_every_config_key_is_in_its_section():
    tables = config_key_tables()
    assert set(tables) == set(SECTIONS), f"new key table(s): document {set(tables) - set(SECTIONS)}"
    assert {"max_in_flight", "runtask_rate", "runtask_burst", "max_queued"} <= set(tables["aws"])
    assert {"keep_finished", "prune_interval"} <= set(tables["store"])
    text = render("pokyd.ini.5")
    heads = list(re.finditer(r"^([A-Z][A-Z .]+)$", text, re.M))
    parts = {m.group(1): text[m.end():heads[i + 1].start() if i + 1 < len(heads) else None]
             for i, m in enumerate(heads)}
    missing = []
    for table, keys in tables.items():
        part = parts[SECTIONS[table]]
        missing += [f"[{table}] {k}" for k in keys if not has_word(part, k)]
    tmpl = parts["TEMPLATE SECTIONS"]
    missing += [k for k in ("param.name", "env.NAME") if k not in tmpl]
    assert missing == [], f"pokyd.ini.5 lacks {missing}"


def test_make_install_installs_the_pages(tmp_path):
    dest = tmp_path / "root"
    p = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install",
                        f"DESTDIR={dest}", "PREFIX=/usr"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    man = dest / "usr/share/man"
    got = sorted(str(f.relative_to(man)) for f in man.rglob("*") if f.is_file())
    assert got == ["man1/poky-sign.1", "man1/poky-worker.1", "man1/poky.1",
                   "man5/pokyd.ini.5", "man8/pokyd.8"]
    for f in man.rglob("*.[158]"):
        assert f.read_bytes() == (MAN / f.name).read_bytes()
        assert f.stat().st_mode & 0o777 == 0o644
