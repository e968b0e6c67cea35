"""Symbol tables: names for addresses in breakpoints, disassembly and backtraces.

Sources are ELF files (the kernel or boot loader the user is debugging, read with pyelftools)
and text files in Bochs's `ldsym` format ("ADDRESS NAME", address in hex) or a Linux
System.map / /proc/kallsyms ("ADDRESS TYPE NAME"), told apart line by line.

A table may hold a whole kernel's System.map (100k symbols). Names live in a dict; the sorted
address index that `nearest` bisects is rebuilt lazily, once after a batch of additions rather
than on every add.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["Symbol", "SymbolError", "SymbolTable"]


class SymbolError(Exception):
    """A symbol file could not be read; the message names the file (and line) and the reason."""


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int = 0
    source: str | None = None  # file it was loaded from, if any


# System.map type letters (nm(1)) that do not name an address in the image: undefined,
# absolute values (constants such as __crc_*), debugging entries.
_SKIPPED_MAP_TYPES = frozenset("UAaN")


class SymbolTable:
    def __init__(self):
        self._by_name: dict[str, Symbol] = {}
        self._addresses: list[int] = []   # sorted, one entry per distinct address
        self._at: list[Symbol] = []       # the symbol shown for each entry of _addresses
        self._dirty = False

    # -- building --------------------------------------------------------------------------

    def add(self, name: str, address: int, size: int = 0, source: str | None = None) -> None:
        """Add a symbol; a name added again replaces the earlier definition."""
        if not name:
            raise ValueError("a symbol needs a name")
        self._by_name[name] = Symbol(name, address, size, source)
        self._dirty = True

    def clear(self) -> None:
        self._by_name.clear()
        self._addresses, self._at = [], []
        self._dirty = False

    def load_elf(self, path: str, offset: int = 0) -> int:
        """Add the named functions, objects and labels of an ELF file; returns how many.

        Reads .symtab, or .dynsym when the file has no .symtab. Undefined and absolute
        symbols (constants, not addresses) and symbols at address 0 are skipped. In a
        relocatable object (.o) values are offsets in their section: pass the load address
        as `offset`. `offset` is added to every address.
        """
        try:
            from elftools.common.exceptions import ELFError
            from elftools.elf.elffile import ELFFile
        except ImportError as e:  # pragma: no cover - pyelftools is a dependency
            raise SymbolError("%s: reading ELF symbols needs pyelftools (%s)" % (path, e))
        try:
            f = open(path, "rb")
        except OSError as e:
            raise SymbolError("%s: cannot open: %s" % (path, e.strerror or e)) from e
        with f:
            try:
                elf = ELFFile(f)
                table = elf.get_section_by_name(".symtab") or elf.get_section_by_name(".dynsym")
                if table is None or not hasattr(table, "iter_symbols"):
                    raise SymbolError("%s: no symbol table (stripped?)" % path)
                count = 0
                for sym in table.iter_symbols():
                    if (sym.name and sym["st_value"]
                            and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE")
                            and sym["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS")):
                        self.add(sym.name, sym["st_value"] + offset, sym["st_size"], path)
                        count += 1
            except SymbolError:
                raise
            except ELFError as e:
                raise SymbolError("%s: not an ELF file (%s)" % (path, e)) from e
            except Exception as e:  # pyelftools reports truncated files as struct errors
                raise SymbolError("%s: damaged ELF file (%s: %s)"
                                  % (path, type(e).__name__, e)) from e
        return count

    def load_bochs(self, path: str, offset: int = 0) -> int:
        """Add symbols from a Bochs `ldsym` file or a System.map; returns how many.

        Each line is either "ADDRESS NAME" (Bochs) or "ADDRESS TYPE NAME" with a one-letter nm
        type (System.map; /proc/kallsyms lines may end in a "[module]" tag, which is ignored).
        ADDRESS is hex, with or without 0x. Blank lines and lines starting with '#' are
        skipped, as are System.map entries of type U, A/a and N (not addresses). A line in
        neither format raises SymbolError naming the file and line number.
        """
        try:
            f = open(path, "r", encoding="utf-8", errors="replace")
        except OSError as e:
            raise SymbolError("%s: cannot open: %s" % (path, e.strerror or e)) from e
        count = 0
        with f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) == 4 and fields[3].startswith("[") and fields[3].endswith("]"):
                    fields = fields[:3]
                if len(fields) == 2:
                    kind, name = None, fields[1]
                elif len(fields) == 3 and len(fields[1]) == 1 and fields[1].isalpha():
                    kind, name = fields[1], fields[2]
                else:
                    raise SymbolError("%s:%d: expected 'ADDRESS NAME' or 'ADDRESS TYPE NAME', "
                                      "got %r" % (path, lineno, line.rstrip("\n")))
                try:
                    address = int(fields[0], 16)
                except ValueError:
                    raise SymbolError("%s:%d: bad hex address %r"
                                      % (path, lineno, fields[0])) from None
                if kind is not None and kind in _SKIPPED_MAP_TYPES:
                    continue
                self.add(name, address + offset, 0, path)
                count += 1
        return count

    # -- queries ---------------------------------------------------------------------------

    def lookup(self, name: str) -> int | None:
        """Address of `name` (exact, case-sensitive), or None."""
        sym = self._by_name.get(name)
        return None if sym is None else sym.address

    def get(self, name: str) -> Symbol | None:
        return self._by_name.get(name)

    def nearest(self, address: int, max_offset: int | None = None) -> tuple[str, int] | None:
        """(name, address - symbol address) of the greatest symbol at or below `address`.

        As in gdb's `func+0x12`, a symbol is returned even when `address` lies beyond its
        size. `max_offset` (if given) rejects matches further away than that. Where several
        symbols share an address, one with a size is preferred, then the first added.
        """
        if self._dirty:
            self._rebuild()
        i = bisect.bisect_right(self._addresses, address) - 1
        if i < 0:
            return None
        sym = self._at[i]
        delta = address - sym.address
        if max_offset is not None and delta > max_offset:
            return None
        return sym.name, delta

    def format(self, address: int, max_offset: int | None = None) -> str:
        """"name+0x12", "name" at the symbol itself, or "" when no symbol is at or below."""
        found = self.nearest(address, max_offset)
        if found is None:
            return ""
        name, delta = found
        return "%s+0x%x" % (name, delta) if delta else name

    def names(self) -> list[str]:
        """All names, sorted (for completion on the command line)."""
        return sorted(self._by_name)

    def symbols(self) -> list[Symbol]:
        """All symbols in address order."""
        return sorted(self._by_name.values(), key=lambda s: s.address)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def _rebuild(self) -> None:
        # Sort by address, then sized before unsized, then insertion order (sort is stable),
        # and keep the first symbol at each address.
        ordered = sorted(self._by_name.values(), key=lambda s: (s.address, s.size == 0))
        addresses, at = [], []
        for sym in ordered:
            if not addresses or addresses[-1] != sym.address:
                addresses.append(sym.address)
                at.append(sym)
        self._addresses, self._at = addresses, at
        self._dirty = False
