"""The zh-Hans catalog is complete, matches the source strings, and its committed .mo is not stale."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

PACKAGE_DIR = Path(settings.BASE_DIR) / "fincrm"
CATALOG_DIR = Path("locale") / "zh_Hans" / "LC_MESSAGES"
PO_PATH = PACKAGE_DIR / CATALOG_DIR / "django.po"
MO_PATH = PACKAGE_DIR / CATALOG_DIR / "django.mo"
FIX_HINT = "run `make messages` and translate the new strings in fincrm/locale/zh_Hans/LC_MESSAGES/django.po"


# A tiny .po reader: comments, flags, msgctxt, msgid, msgid_plural, msgstr, msgstr[n], continued lines.

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')
_STRING = re.compile(r'^(".*")\s*$')


def _unquote(quoted: str) -> str:
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        raise ValueError(f"not a quoted .po string: {quoted!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), quoted[1:-1])


@dataclass
class Entry:
    line: int
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)


def read_po(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None  # which field a continued string line extends
    seen_msgid = False

    def finish() -> None:
        nonlocal entry, target, seen_msgid
        if entry is not None and seen_msgid:
            entries.append(entry)
        entry, target, seen_msgid = None, None, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if seen_msgid:  # a comment after a message starts the next entry
                finish()
            if entry is None:
                entry = Entry(line=number)
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if entry is None:
            entry = Entry(line=number)
        entry.obsolete = entry.obsolete or obsolete
        keyword = _KEYWORD.match(line)
        if keyword:
            name, index, quoted = keyword.groups()
            if name in ("msgctxt", "msgid") and seen_msgid and target is not None and target[0] == "msgstr":
                finish()  # a new message without a blank line in between
                entry = Entry(line=number, obsolete=obsolete)
            text = _unquote(quoted)
            if name == "msgctxt":
                entry.msgctxt, target = text, ("msgctxt", 0)
            elif name == "msgid":
                entry.msgid, target, seen_msgid = text, ("msgid", 0), True
            elif name == "msgid_plural":
                entry.msgid_plural, target = text, ("msgid_plural", 0)
            else:
                slot = int(index) if index is not None else 0
                entry.msgstr[slot], target = text, ("msgstr", slot)
            continue
        string = _STRING.match(line)
        if string and target is not None:
            text = _unquote(string.group(1))
            kind, slot = target
            if kind == "msgstr":
                entry.msgstr[slot] += text
            elif kind == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + text
            elif kind == "msgid":
                entry.msgid += text
            else:
                entry.msgid_plural = (entry.msgid_plural or "") + text
            continue
        raise ValueError(f"{path}:{number}: cannot read {raw!r}")
    finish()
    return entries


def messages(entries: list[Entry]) -> list[Entry]:
    """The translatable entries: not the header, not obsolete."""
    return [e for e in entries if e.msgid and not e.obsolete]


def header(entries: list[Entry]) -> dict[str, str]:
    head = next(e for e in entries if e.msgid == "" and e.msgctxt is None)
    pairs = (line.partition(":") for line in head.msgstr[0].splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, _, value in pairs}


_PYTHON_FORMAT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[a-zA-Z%])"
)
_BRACE_FORMAT = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")


def python_placeholders(text: str) -> list[str]:
    found = [m.group(0) for m in _PYTHON_FORMAT.finditer(text) if m.group("conv") != "%"]
    return sorted(found)


def brace_placeholders(text: str) -> list[str]:
    return sorted(_BRACE_FORMAT.findall(text))


# (a) The committed catalog is complete and well formed.


@pytest.fixture(scope="module")
def catalog() -> list[Entry]:
    assert PO_PATH.is_file(), f"missing {PO_PATH}"
    return read_po(PO_PATH)


def test_reader_handles_multiline_plural_and_flags(tmp_path: Path) -> None:
    sample = tmp_path / "sample.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        '#, fuzzy, python-format\nmsgid ""\n"Long %(a)s "\n"text \\"q\\""\nmsgstr "长 %(a)s"\n\n'
        'msgctxt "ctx"\nmsgid "%(n)s item"\nmsgid_plural "%(n)s items"\nmsgstr[0] "%(n)s "\n"项"\n\n'
        '#~ msgid "old"\n#~ msgstr "旧"\n',
        encoding="utf-8",
    )

    entries = read_po(sample)

    assert header(entries)["Plural-Forms"] == "nplurals=1; plural=0;"
    first, second, old = messages(entries) + [e for e in entries if e.obsolete]
    assert (first.msgid, first.msgstr, first.flags) == (
        'Long %(a)s text "q"',
        {0: "长 %(a)s"},
        {"fuzzy", "python-format"},
    )
    assert second.key == ("ctx", "%(n)s item", "%(n)s items")
    assert second.msgstr == {0: "%(n)s 项"}
    assert old.obsolete
    assert python_placeholders("%(a)s, %d and 100%%") == ["%(a)s", "%d"]


def test_header_declares_simplified_chinese(catalog: list[Entry]) -> None:
    head = header(catalog)

    assert head.get("Language") == "zh_Hans"
    assert head.get("Content-Type") == "text/plain; charset=UTF-8"
    assert head.get("Plural-Forms") == "nplurals=1; plural=0;"
    assert head.get("Language-Team") == "fincrm <i18n@fincrm.example>"


def test_catalog_has_messages_and_no_obsolete_entries(catalog: list[Entry]) -> None:
    assert len(messages(catalog)) > 100
    assert not [e.msgid for e in catalog if e.obsolete], "obsolete entries left: " + FIX_HINT


def test_every_entry_is_translated(catalog: list[Entry]) -> None:
    untranslated = [
        e.msgid
        for e in messages(catalog)
        if not e.msgstr or any(not text.strip() for text in e.msgstr.values())
    ]

    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated[:10]}; {FIX_HINT}"


def test_plural_entries_have_one_form(catalog: list[Entry]) -> None:
    wrong = [e.msgid for e in messages(catalog) if e.msgid_plural is not None and sorted(e.msgstr) != [0]]

    assert not wrong, f"Chinese has one plural form (msgstr[0] only): {wrong}"


def test_no_entry_is_fuzzy(catalog: list[Entry]) -> None:
    fuzzy = [e.msgid or "<header>" for e in catalog if "fuzzy" in e.flags]

    assert not fuzzy, f"fuzzy entries: {fuzzy[:10]}"


def test_placeholders_are_kept(catalog: list[Entry]) -> None:
    wrong = []
    for e in messages(catalog):
        source = e.msgid_plural if e.msgid_plural is not None else e.msgid
        checks = [python_placeholders]
        if "python-brace-format" in e.flags:
            checks.append(brace_placeholders)
        for placeholders in checks:
            expected = placeholders(source)
            wrong += [(e.msgid, text) for text in e.msgstr.values() if placeholders(text) != expected]

    assert not wrong, f"placeholders differ between msgid and msgstr: {wrong[:10]}"


# (b) The catalog holds exactly the strings the code marks for translation.


def _copy_package(destination: Path) -> Path:
    copy = destination / "fincrm"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext (xgettext) is not installed")
def test_catalog_matches_the_source_strings(tmp_path: Path, catalog: list[Entry]) -> None:
    committed_po = PO_PATH.read_bytes()
    copy = _copy_package(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fincrm.settings", "PYTHONPATH": str(settings.BASE_DIR)}
    # -P: keep the working directory off sys.path, or fincrm/platform would shadow the stdlib module.
    command = [
        sys.executable,
        "-P",
        "-m",
        "django",
        "makemessages",
        "-l",
        "zh_Hans",
        "--no-obsolete",
        "--no-location",
    ]

    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    assert PO_PATH.read_bytes() == committed_po, "makemessages in the copy changed the committed catalog"
    regenerated = {e.key for e in messages(read_po(copy / CATALOG_DIR / "django.po"))}
    committed = {e.key for e in messages(catalog)}
    added = sorted(key[1] for key in regenerated - committed)
    removed = sorted(key[1] for key in committed - regenerated)
    assert not added, f"strings new in the code are missing from the catalog: {added}; {FIX_HINT}"
    assert not removed, f"the catalog holds strings no longer in the code: {removed}; {FIX_HINT}"


# (c) The committed .mo is what the committed .po compiles to.


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt) is not installed")
def test_committed_mo_is_compiled_from_the_po(tmp_path: Path) -> None:
    assert MO_PATH.is_file(), f"missing {MO_PATH}: run `make messages`"
    compiled = tmp_path / "django.mo"
    msgfmt = shutil.which("msgfmt")
    assert msgfmt is not None

    result = subprocess.run(  # noqa: S603 - the installed msgfmt on our own files
        [msgfmt, "--check-format", "-o", str(compiled), str(PO_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, f"msgfmt failed:\n{result.stderr}"
    assert compiled.read_bytes() == MO_PATH.read_bytes(), "django.mo is stale: run `make messages`"
