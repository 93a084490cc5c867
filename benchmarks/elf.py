"""Reading and adjusting the GNU symbol versions of a 64-bit little-endian ELF file.

Only what :mod:`benchmarks.stack` needs to run a ``redis-server`` built against OpenSSL 1.1
on a system that has OpenSSL 3 only: which undefined dynamic symbols carry a given version
(``OPENSSL_1_1_0``...), and marking the version requirements on some libraries as weak
(``VER_FLG_WEAK``), so the dynamic loader warns about a missing version instead of refusing
to start the program. The functions work on the file's bytes; nothing is executed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SHT_DYNSYM = 11
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_FLG_WEAK = 0x2
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_VERNEED = struct.Struct("<HHIII")
_VERNAUX = struct.Struct("<IHHII")


class ElfError(ValueError):
    """The file is not an ELF file this module can read."""


@dataclass(frozen=True)
class _Section:
    kind: int
    offset: int
    size: int
    link: int
    info: int
    entry_size: int


@dataclass(frozen=True)
class VersionNeed:
    """One version a file requires from a library (an auxiliary entry of ``.gnu.version_r``)."""

    library: str
    version: str
    index: int
    """The number ``.gnu.version`` uses for this version."""
    flags: int
    flags_offset: int
    """Where the 16-bit flags sit in the file."""


def _sections(data: bytes | bytearray) -> list[_Section]:
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ElfError("only 64-bit little-endian ELF files are supported")
    (table,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    if not table or entry_size != _SECTION.size:
        raise ElfError("no section header table")
    sections = []
    for index in range(count):
        fields = _SECTION.unpack_from(data, table + index * entry_size)
        _, kind, _, _, offset, size, link, info, _, entry = fields
        sections.append(_Section(kind, offset, size, link, info, entry))
    return sections


def _string(data: bytes | bytearray, table: _Section, offset: int) -> str:
    start = table.offset + offset
    return bytes(data[start : data.index(b"\0", start)]).decode()


def version_needs(data: bytes | bytearray) -> list[VersionNeed]:
    """Every version requirement of the file, in file order."""
    sections = _sections(data)
    needs = []
    for section in sections:
        if section.kind != SHT_GNU_VERNEED:
            continue
        strings = sections[section.link]
        entry = section.offset
        for _ in range(section.info):
            _, aux_count, file_name, aux, following = _VERNEED.unpack_from(data, entry)
            library = _string(data, strings, file_name)
            position = entry + aux
            for _ in range(aux_count):
                _, flags, other, name, next_aux = _VERNAUX.unpack_from(data, position)
                version = _string(data, strings, name)
                needs.append(VersionNeed(library, version, other, flags, position + 4))
                position += next_aux
            if not following:
                break
            entry += following
    return needs


def _undefined_symbols(data: bytes | bytearray) -> Iterator[tuple[str, int]]:
    """``(name, version index)`` of every undefined dynamic symbol."""
    sections = _sections(data)
    dynsym = next((s for s in sections if s.kind == SHT_DYNSYM), None)
    versym = next((s for s in sections if s.kind == SHT_GNU_VERSYM), None)
    if dynsym is None:
        return
    strings = sections[dynsym.link]
    for number in range(dynsym.size // _SYMBOL.size):
        name, _, _, section_index, _, _ = _SYMBOL.unpack_from(
            data, dynsym.offset + number * _SYMBOL.size
        )
        if not name or section_index != 0:
            continue
        version = 1
        if versym is not None:
            (version,) = struct.unpack_from("<H", data, versym.offset + 2 * number)
        yield _string(data, strings, name), version & 0x7FFF


def undefined_versioned_symbols(data: bytes | bytearray, version_prefix: str) -> set[str]:
    """Names of the undefined dynamic symbols bound to a version starting with
    ``version_prefix`` (e.g. ``"OPENSSL_"``)."""
    versions = {
        need.index: need.version
        for need in version_needs(data)
        if need.version.startswith(version_prefix)
    }
    return {name for name, index in _undefined_symbols(data) if index in versions}


def weaken_version_needs(data: bytearray, libraries: Iterable[str]) -> list[VersionNeed]:
    """Set ``VER_FLG_WEAK`` on every version required from ``libraries`` (sonames), in
    place; returns the entries changed."""
    wanted = set(libraries)
    changed = []
    for need in version_needs(data):
        if need.library in wanted and not need.flags & VER_FLG_WEAK:
            struct.pack_into("<H", data, need.flags_offset, need.flags | VER_FLG_WEAK)
            changed.append(need)
    return changed
