"""The README's shell commands, read from README.md when the tests run (never copied into them).

Every fenced block in a shell language (```sh, ```bash, ```shell, ```console) is split into
commands the way a shell reads a pasted block: a line ending in `\\`, `|`, `&&` or `||`, or
with a quote still open, goes on into the next line; blank lines and comment lines between
commands are skipped; a `#` comment at the end of a command stays in its text (the shell drops
it) but not in its `key`. In a ```console block only lines starting with `$ ` are commands.

Who runs what: a test module that runs README commands holds, at module level, a
`Claims("its name")` and takes its blocks from it (`README.block(heading, has)`: the
block under that heading with a command starting with `has`), then runs
every command of each block it took, in order, as written, or with the substitutions it
declares by `Command.sub` (each one must match, so a README change cannot silently leave a
substitution stale). test_readme_commands.py imports every module that holds a `Claims` and
checks that each README command is claimed by exactly one of them, or is in its short
allowlist of commands that cannot run here, with the reason.
"""
import dataclasses
import re

from conftest import ROOT

README = ROOT / "README.md"
SHELL_LANGS = ("sh", "bash", "shell", "console")
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
CONTINUES = re.compile(r"(\\|\||&&|\|\|)\s*$")


@dataclasses.dataclass
class Command:
    text: str          # as in the README (continuation lines and all)
    line: int          # 1-based line of its first line in README.md
    heading: str       # the nearest heading above its block
    block: "Block" = dataclasses.field(repr=False, compare=False, default=None)

    @property
    def key(self):
        """The command without comments and with blanks collapsed: what identifies it."""
        return " ".join(strip_comments(self.text)[0].replace("\\\n", " ").split())

    def sub(self, old, new):
        """self.text with every `old` replaced by `new`; `old` must occur (a declared
        substitution that no longer matches the README is an error, not a no-op)."""
        assert old in self.text, f"README.md:{self.line}: substitution {old!r} does not " \
            f"match the command any more:\n{self.text}"
        return self.text.replace(old, new)

    def where(self):
        return f"README.md:{self.line} ({self.heading})"


@dataclasses.dataclass
class Block:
    lang: str
    line: int          # 1-based line of the opening fence
    heading: str
    body: str
    commands: list


def strip_comments(text):
    """(text without shell comments, the quote still open at its end or '')."""
    out, quote, i, n = [], "", 0, len(text)
    while i < n:
        c = text[i]
        if quote == "'":
            out.append(c)
            if c == "'":
                quote = ""
        elif quote == '"':
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                quote = ""
        elif c == "\\" and i + 1 < n:
            out.append(c + text[i + 1])
            i += 1
        elif c in "'\"":
            quote = c
            out.append(c)
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;|&("):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out), quote


def split_commands(body, lang, first_line, heading):
    """The commands of one block's body (first_line: README line of the body's first line)."""
    commands, cur, start = [], [], 0
    for offset, raw in enumerate(body.split("\n")):
        line = raw
        if lang == "console" and not cur:
            if not line.startswith("$ "):
                continue            # output
            line = line[2:]
        if not cur:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = first_line + offset
        cur.append(line)
        text = "\n".join(cur)
        code, quote = strip_comments(text)
        if quote or CONTINUES.search(code.rstrip("\n").split("\n")[-1]):
            continue
        commands.append(Command(text.rstrip(), start, heading))
        cur = []
    assert not cur, f"README.md:{start}: a command never ends (open quote or trailing " \
        f"continuation):\n" + "\n".join(cur)
    return commands


def blocks(text=None, langs=SHELL_LANGS):
    """Every fenced block of README.md whose language is in langs, in order."""
    lines = (README.read_text() if text is None else text).split("\n")
    found, heading, i = [], "", 0
    while i < len(lines):
        m = HEADING.match(lines[i])
        if m:
            heading = m.group(2)
        f = FENCE.match(lines[i])
        if f:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body = "\n".join(lines[i + 1:j])
            if f.group(1) in langs:
                b = Block(f.group(1), i + 1, heading, body,
                          split_commands(body, f.group(1), i + 2, heading))
                for c in b.commands:
                    c.block = b
                found.append(b)
            i = j
        i += 1
    return found


def commands(text=None):
    return [c for b in blocks(text) for c in b.commands]


def fenced_after(block, text=None):
    """The body of the next fenced block (any language) after `block`: its shown output."""
    lines = (README.read_text() if text is None else text).split("\n")
    i = block.line                      # the first body line (0-based index)
    while not lines[i].startswith("```"):
        i += 1                          # to this block's closing fence
    i += 1
    while i < len(lines) and not lines[i].startswith("```"):
        i += 1
    assert i < len(lines), f"no fenced block after README.md:{block.line}"
    j = i + 1
    while not lines[j].startswith("```"):
        j += 1
    return "\n".join(lines[i + 1:j])


def find_block(heading, has, text=None):
    """The one shell block under the heading `heading` (the nearest one above the block,
    without its '#') with a command that starts with `has`."""
    found = [b for b in blocks(text) if b.heading == heading
             and any(c.key.startswith(has) for c in b.commands)]
    assert len(found) == 1, f"README.md: {len(found)} shell blocks under {heading!r} have " \
        f"a command starting with {has!r}; the runner of that block needs updating"
    return found[0]


class Claims:
    """What one test module runs of the README (see the module docstring)."""

    def __init__(self, runner, text=None):
        self.runner, self.text, self.blocks, self.selectors = runner, text, [], []

    def block(self, heading, has):
        b = find_block(heading, has, self.text)
        self.blocks.append(b)
        self.selectors.append((heading, has))
        return b

    def commands(self):
        return [c for b in self.blocks for c in b.commands]

    def on(self, text):
        """The same claims made on another README text (the coverage test's own check)."""
        again = Claims(self.runner, text)
        for heading, has in self.selectors:
            again.block(heading, has)
        return again
