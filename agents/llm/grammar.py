"""Output constraints → llama.cpp GBNF grammars.

``choice`` becomes an alternation of literals. ``regex`` is translated for the subset the suite's tasks use:
literals and escapes (``\\.``, ``\\d``, ``\\w``, ``\\s``), character classes ``[...]`` (ranges, negation),
``.``, groups ``(...)`` / ``(?:...)``, alternation ``|``, and quantifiers ``? * + {m} {m,} {m,n}``. Anchors
``^``/``$`` are accepted and ignored (the grammar always spans the whole output). Anything else raises
:class:`UnsupportedRegex` naming the construct.
"""

from __future__ import annotations

import json


class UnsupportedRegex(ValueError):
    pass


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def choice_grammar(choices: tuple[str, ...] | list[str]) -> str:
    return "root ::= " + " | ".join(_lit(c) for c in choices) + "\n"


_CLASS_ESC = {"d": "0-9", "w": "a-zA-Z0-9_", "s": " \\t\\n\\r"}


def _class_char(c: str) -> str:
    if c in "]\\-^[":
        return "\\" + c
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    return c


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def take(self) -> str:
        c = self.p[self.i]
        self.i += 1
        return c

    def parse(self) -> str:
        expr = self.alternation()
        if self.i != len(self.p):
            raise UnsupportedRegex(f"unexpected {self.p[self.i]!r} at position {self.i} in {self.p!r}")
        return expr

    def alternation(self) -> str:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else "(" + " | ".join(b or '""' for b in branches) + ")"

    def sequence(self) -> str:
        items = []
        while self.peek() is not None and self.peek() not in "|)":
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.quantified(atom))
        return " ".join(items)

    def atom(self) -> str | None:
        c = self.take()
        if c in "^$":
            return None
        if c == "(":
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise UnsupportedRegex(f"group syntax (?{self.p[self.i + 1:self.i + 2]}...) is not supported")
            inner = self.alternation()
            if self.peek() != ")":
                raise UnsupportedRegex(f"unbalanced parenthesis in {self.p!r}")
            self.take()
            return f"({inner or chr(34) * 2})"
        if c == "[":
            return self.char_class()
        if c == ".":
            return "[^\\n]"
        if c == "\\":
            e = self.take()
            if e in _CLASS_ESC:
                return f"[{_CLASS_ESC[e]}]"
            if e in "DWSbB" or e.isdigit():
                raise UnsupportedRegex(f"escape \\{e} is not supported")
            return _lit({"n": "\n", "t": "\t"}.get(e, e))
        if c in "*+?{":
            raise UnsupportedRegex(f"quantifier {c!r} with nothing to repeat in {self.p!r}")
        return _lit(c)

    def char_class(self) -> str:
        out = "["
        if self.peek() == "^":
            self.take()
            out += "^"
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise UnsupportedRegex(f"unterminated character class in {self.p!r}")
            if c == "]" and not first:
                self.take()
                return out + "]"
            self.take()
            first = False
            if c == "\\":
                e = self.take()
                out += _CLASS_ESC.get(e, _class_char({"n": "\n", "t": "\t"}.get(e, e)))
            elif c == "-" and self.peek() != "]" and out[-1] not in "[^":
                out += "-"
            else:
                out += _class_char(c)

    def quantified(self, atom: str) -> str:
        c = self.peek()
        if c in ("?", "*", "+"):
            self.take()
            return f"{atom}{c}"
        if c == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                raise UnsupportedRegex(f"unterminated {{...}} in {self.p!r}")
            body = self.p[self.i + 1:end]
            self.i = end + 1
            try:
                lo_s, _, hi_s = body.partition(",")
                lo = int(lo_s)
                hi = lo if "," not in body else (None if hi_s == "" else int(hi_s))
            except ValueError:
                raise UnsupportedRegex(f"bad repetition {{{body}}}") from None
            parts = [atom] * lo
            if hi is None:
                parts.append(f"{atom}*")
            elif hi > lo:
                opt = ""
                for _ in range(hi - lo):
                    opt = f"({atom} {opt})?" if opt else f"({atom})?"
                parts.append(opt)
            return "(" + " ".join(parts) + ")" if parts else '""'
        return atom


def regex_grammar(pattern: str) -> str:
    """GBNF for the whole output matching ``pattern``."""
    return f"root ::= {_Parser(pattern).parse() or chr(34) * 2}\n"
