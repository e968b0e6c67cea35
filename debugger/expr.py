"""The debugger's expression language: breakpoint conditions, `set reg = expr`, `print` and
addresses typed in commands. The syntax is documented in docs/debugger-expressions.md.

    cond = compile('ax == 0x55aa && byte [0x500] != 0')   # parse once (ExprError on bad syntax)
    if cond.evaluate(env): ...                            # evaluate at every breakpoint hit

An expression is parsed once into a tree of small closures, so a condition on a breakpoint hit
thousands of times costs a few Python calls per evaluation and no parsing. Values are unsigned
32-bit integers throughout (every intermediate result is masked), as in the guest's registers,
except the real numbers: the x87 registers st0-st7 and literals written with a point or an
exponent (1.5, 2e10). They are exact (Fractions; inf and nan as floats), take part in + - * /
and in comparisons (against integers too), and nowhere else: `st0 > 1.5` is a condition, an
address or a bitwise operation needs an integer. evaluate() returns an integer; value() a real
result as it is.

The `env` an expression is evaluated against is any object with these methods:

    register(name) -> int              name is canonical lower case, e.g. "eax", "ah", "zf", "if";
                                       raise KeyError if the machine has no such register;
                                       st0-st7 are their 80-bit encodings (debugger/x87.py)
    read_memory(linear, size) -> int   little-endian value of `size` (1, 2 or 4) bytes; may raise
    symbol(name) -> int | None         (optional) address of a symbol, None if unknown
    seg_to_linear(seg, off) -> int     (optional) linear address of seg:off; default seg*16+off
    default_size                       (optional attribute) bytes read by a bare [expr]; default 4

`register_parts()` tells an env how the short names map onto the 32-bit registers, so an env
backed by a CPU only needs the full registers (SimpleEnv shows how).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

from debugger import x87

__all__ = ["ExprError", "Expression", "SimpleEnv", "compile", "compile_assignment", "evaluate",
           "register_parts", "REGISTER_NAMES"]

MASK = 0xFFFFFFFF

# name -> (full register, shift, width in bits). The env is asked for `name` itself; this table
# lets it derive sub-registers and single flags from the full register if it wants to.
_REGISTERS: dict[str, tuple[str, int, int]] = {}
for _r in ("ax", "bx", "cx", "dx"):
    _REGISTERS["e" + _r] = ("e" + _r, 0, 32)
    _REGISTERS[_r] = ("e" + _r, 0, 16)
    _REGISTERS[_r[0] + "l"] = ("e" + _r, 0, 8)
    _REGISTERS[_r[0] + "h"] = ("e" + _r, 8, 8)
for _r in ("si", "di", "bp", "sp", "ip"):
    _REGISTERS["e" + _r] = ("e" + _r, 0, 32)
    _REGISTERS[_r] = ("e" + _r, 0, 16)
_REGISTERS["eflags"] = ("eflags", 0, 32)
_REGISTERS["flags"] = ("eflags", 0, 16)
for _r in ("cs", "ds", "es", "ss", "fs", "gs"):
    _REGISTERS[_r] = (_r, 0, 16)
for _r in ("cr0", "cr2", "cr3", "cr4") + tuple("dr%d" % _i for _i in range(8)):
    _REGISTERS[_r] = (_r, 0, 32)
# The x87's, by gdb's names: the control ones are integers, st0-st7 real numbers.
for _r, (_attr, _mask) in x87.CONTROL_REGISTERS.items():
    _REGISTERS[_r] = (_r, 0, _mask.bit_length())
for _r in x87.ST_NAMES:
    _REGISTERS[_r] = (_r, 0, 80)
_REAL_REGISTERS = frozenset(x87.ST_NAMES)
# EFLAGS bits (SDM vol. 1, 3.4.3).
for _r, _bit, _width in (("cf", 0, 1), ("pf", 2, 1), ("af", 4, 1), ("zf", 6, 1), ("sf", 7, 1),
                         ("tf", 8, 1), ("if", 9, 1), ("df", 10, 1), ("of", 11, 1),
                         ("iopl", 12, 2), ("nt", 14, 1), ("rf", 16, 1), ("vm", 17, 1),
                         ("ac", 18, 1)):
    _REGISTERS[_r] = ("eflags", _bit, _width)

REGISTER_NAMES = frozenset(_REGISTERS)

# Other spellings accepted in expressions -> canonical name. `if_` exists because `if` also
# separates a breakpoint's address from its condition on the command line; gdb's $pc & co.
_ALIASES = {"if_": "if"}
_DOLLAR_ALIASES = {"pc": "eip", "sp": "esp", "fp": "ebp", "ps": "eflags"}

_SIZE_KEYWORDS = {"byte": 1, "word": 2, "dword": 4}


def register_parts(name: str) -> tuple[str, int, int]:
    """(full register, shift, width in bits) for a register name: "ah" -> ("eax", 8, 8)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    try:
        return _REGISTERS[key]
    except KeyError:
        raise KeyError(name) from None


class ExprError(Exception):
    """A syntax or evaluation error. `column` (1-based) and `token` say where, when known."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None,
                 text: str | None = None):
        super().__init__(message)
        self.message = message
        self.column = column
        self.token = token
        self.text = text

    def caret(self) -> str:
        """The expression with a ^ under the offending column (or just the message)."""
        if self.text is None or self.column is None:
            return self.message
        return "%s\n%s^" % (self.text, " " * (self.column - 1))


# -- tokenizer -------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<real>(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)(?![0-9A-Za-z_.]))
  | (?P<num>[0-9][0-9A-Za-z_]*)
  | (?P<char>'(?:\\.|[^'\\])*')
  | (?P<reg>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_.][A-Za-z0-9_.@]*)
  | (?P<op>\|\||&&|<<|>>|<=|>=|==|!=|[-+*/%~!&|^<>()\[\]:=])
""", re.VERBOSE)

_CHAR_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", "'": "'"}


class _Token:
    __slots__ = ("kind", "text", "value", "column")

    def __init__(self, kind, text, value, column):
        self.kind = kind      # "num", "real", "reg", "ident", "op", "end"
        self.text = text
        self.value = value    # int for numbers, canonical name for registers
        self.column = column  # 1-based

    def describe(self):
        return "end of expression" if self.kind == "end" else "'%s'" % self.text


# NASM-style 1Fh comes first so that 0bh is eleven, not a malformed binary number.
_NUMBER_FORMS = (
    (re.compile(r"([0-9][0-9a-f]*)h"), 16),
    (re.compile(r"0x([0-9a-f]+)"), 16),
    (re.compile(r"0b([01]+)"), 2),
    (re.compile(r"([0-9]+)"), 10),
)


def _parse_number(text: str) -> int | None:
    # int() alone would also accept "0x1fh", "1_0" and other Python spellings.
    low = text.lower()
    for pattern, base in _NUMBER_FORMS:
        m = pattern.fullmatch(low)
        if m:
            return int(m.group(1), base)
    return None


def _parse_char(text: str) -> int | None:
    body = text[1:-1]
    chars = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            c = _CHAR_ESCAPES.get(body[i + 1])
            if c is None:
                return None
            i += 1
        chars.append(ord(c))
        i += 1
    if not 1 <= len(chars) <= 4 or any(c > 0xFF for c in chars):
        return None
    # NASM's character constants: the first character is the lowest byte ('MZ' == 0x5a4d),
    # so a constant compares equal to the word/dword read from memory holding those bytes.
    return sum(c << (8 * i) for i, c in enumerate(chars))


def _tokenize(text: str, start: int = 0) -> list[_Token]:
    tokens = []
    pos = start
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        col = pos + 1
        if m is None:
            raise ExprError("unexpected character %r at column %d" % (text[pos], col),
                            col, text[pos], text)
        kind = m.lastgroup
        tok = m.group()
        pos = m.end()
        if kind == "space":
            continue
        if kind == "real":
            tokens.append(_Token("real", tok, Fraction(tok), col))
        elif kind == "num":
            value = _parse_number(tok)
            if value is None:
                raise ExprError("bad number '%s' at column %d" % (tok, col), col, tok, text)
            tokens.append(_Token("num", tok, value, col))
        elif kind == "char":
            value = _parse_char(tok)
            if value is None:
                raise ExprError("bad character constant %s at column %d" % (tok, col),
                                col, tok, text)
            tokens.append(_Token("num", tok, value, col))
        elif kind == "reg":
            name = tok[1:].lower()
            name = _DOLLAR_ALIASES.get(name, _ALIASES.get(name, name))
            if name not in _REGISTERS:
                raise ExprError("unknown register '%s' at column %d" % (tok, col), col, tok, text)
            tokens.append(_Token("reg", tok, name, col))
        elif kind == "ident":
            low = _ALIASES.get(tok.lower(), tok.lower())
            if low in _REGISTERS:
                tokens.append(_Token("reg", tok, low, col))
            else:
                tokens.append(_Token("ident", tok, tok, col))
        else:
            tokens.append(_Token("op", tok, tok, col))
    tokens.append(_Token("end", "", None, len(text) + 1))
    return tokens


# -- evaluation helpers (closed over by the compiled tree) -----------------------------------

def _is_real(v):
    return not isinstance(v, int)


class _Negated(int):
    """The integer -x, held as its 32-bit two's complement like every integer here, but still
    known to be negative: next to a real number (st0 + -1, st0 > -2) it counts as -x, as in gdb,
    not as 4294967295.  Integer arithmetic on it gives plain (masked) ints."""

    __slots__ = ()


def _as_real_operand(v):
    """An operand of real arithmetic or a real comparison: a negated integer by its sign."""
    return int(v) - (MASK + 1) if isinstance(v, _Negated) and v > MASK >> 1 else v


def _integer(v, what, column, text):
    """`v`, which must not be a real number where `what` needs an integer."""
    if _is_real(v):
        raise ExprError("%s needs an integer, not the real number %s (at column %d)"
                        % (what, x87.real_text(v), column), column, None, text)
    return v


def _read(env, address, size, column, text):
    _integer(address, "a memory address", column, text)
    try:
        value = env.read_memory(address, size)
    except Exception as e:  # any failure of the env (unmapped, page fault...) is a user error
        raise ExprError("cannot read memory at 0x%x (%s)" % (address, e) if str(e)
                        else "cannot read memory at 0x%x" % address, column, None, text) from e
    return value & ((1 << (8 * size)) - 1)


def _seg_to_linear(env, seg, off):
    if _is_real(seg) or _is_real(off):
        raise ExprError("SEG:OFF needs integers, not the real number %s"
                        % x87.real_text(off if _is_real(off) else seg))
    convert = getattr(env, "seg_to_linear", None)
    if convert is None:
        return ((seg << 4) + off) & MASK
    return convert(seg, off) & MASK


def _binary(op, column, text):
    """A function of two values for a (non short-circuit) binary operator: masked
    integers, or reals where one side is real (debugger/x87.py's values)."""
    if op in ("/", "%"):
        def divide(a, b):
            if _is_real(a) or _is_real(b):
                if op == "%":
                    _integer(a if _is_real(a) else b, "'%'", column, text)
                return _real_arith(op, a, b, column, text)
            if b == 0:
                raise ExprError("division by zero at column %d" % column, column, op, text)
            return a // b if op == "/" else a % b
        return divide
    simple = _SIMPLE_BINARY[op]
    if op in _COMPARISONS:
        def compare(a, b):
            if _is_real(a) or _is_real(b):
                return int(_REAL_COMPARE[op](_as_real_operand(a), _as_real_operand(b)))
            return simple(a, b)
        return compare
    if op in ("+", "-", "*"):
        def arith(a, b):
            if _is_real(a) or _is_real(b):
                return _real_arith(op, a, b, column, text)
            # An integer result that is negative (1 - 2, -1 * 3) stays known as such, so
            # st0 + (1 - 2) is st0 - 1 (see _Negated).
            r = simple(_as_real_operand(a), _as_real_operand(b))
            signed = _SIGNED[op](_as_real_operand(a), _as_real_operand(b))
            return _Negated(r) if signed < 0 else r
        return arith

    def bitwise(a, b):
        if _is_real(a) or _is_real(b):
            _integer(a if _is_real(a) else b, "'%s'" % op, column, text)
        return simple(a, b)
    return bitwise


def _real_arith(op, a, b, column, text):
    """a op b exactly; with an infinity or a NaN on one side, IEEE's answer (which only
    depends on the other side's sign and whether it is zero)."""
    # -0.0 (a negative zero register) is exact: only inf and nan take the IEEE path.
    a, b = _as_real_operand(a), _as_real_operand(b)
    if isinstance(a, float) and math.isfinite(a):
        a = Fraction(a)
    if isinstance(b, float) and math.isfinite(b):
        b = Fraction(b)
    if isinstance(a, float) or isinstance(b, float):
        def as_float(v):
            return v if isinstance(v, float) else math.copysign(1.0, v) if v else 0.0
        fa, fb = as_float(a), as_float(b)
        if op == "/" and fb == 0:
            raise ExprError("division by zero at column %d" % column, column, op, text)
        # Python's floats give IEEE's inf - inf = nan, inf * 0 = nan, inf / inf = nan.
        r = (fa + fb if op == "+" else fa - fb if op == "-" else fa * fb if op == "*"
             else fa / fb)
        return r if math.isinf(r) or math.isnan(r) else Fraction(r)
    a, b = Fraction(a), Fraction(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ExprError("division by zero at column %d" % column, column, op, text)
    return a / b


def _shl(a, b):
    # C leaves shifts by >= the width undefined; all bits are shifted out here (and a huge
    # count cannot build a huge Python int).
    return (a << b) & MASK if b < 32 else 0


_SIMPLE_BINARY = {
    "+": lambda a, b: (a + b) & MASK,
    "-": lambda a, b: (a - b) & MASK,
    "*": lambda a, b: (a * b) & MASK,
    "<<": _shl,
    ">>": lambda a, b: a >> b if b < 32 else 0,
    "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
    "|": lambda a, b: a | b,
}

_SIGNED = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}

_COMPARISONS = frozenset(("<", "<=", ">", ">=", "==", "!="))
# Python compares a Fraction with an int or with inf/nan exactly, and nan with nothing.
_REAL_COMPARE = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}

# C precedence, higher binds tighter. && and || are handled here too but short-circuit.
_PRECEDENCE = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}


# -- parser ----------------------------------------------------------------------------------

class _Parser:
    """Recursive descent for unary terms, precedence climbing for binary operators.

        expr    := operand (BINOP operand)*            (C precedence, left associative)
        operand := unary [':' (unary | '[' expr ']')]   seg:off, and Intel-style seg:[off]
        unary   := ('-' | '~' | '!' | '+') unary
                 | '*' unary                            gdb-style dword read
                 | SIZE ['ptr'] ( '[' expr ']' | unary ':' '[' expr ']' )
                 | primary
        primary := NUMBER | REGISTER | SYMBOL | '(' expr ')' | '[' expr ']'
    """

    def __init__(self, text, start=0):
        self.text = text
        self.tokens = _tokenize(text, start)
        self.pos = 0

    # token helpers
    def peek(self, ahead=0):
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self):
        tok = self.tokens[self.pos]
        if tok.kind != "end":
            self.pos += 1
        return tok

    def is_op(self, text, ahead=0):
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.text == text

    def error(self, tok, expected=None):
        if tok.kind == "op" and tok.text == "=":
            msg = "unexpected '=' at column %d (use == to compare)" % tok.column
        elif expected:
            msg = "expected %s at column %d, found %s" % (expected, tok.column, tok.describe())
        else:
            msg = "unexpected %s at column %d" % (tok.describe(), tok.column)
        return ExprError(msg, tok.column, tok.text or None, self.text)

    def expect(self, text):
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            raise self.error(tok, "'%s'" % text)
        return tok

    def starts_term(self, tok):
        return (tok.kind in ("num", "real", "reg", "ident")
                or (tok.kind == "op" and tok.text in ("(", "[")))

    # grammar
    def parse(self):
        tok = self.peek()
        if tok.kind == "end":
            raise ExprError("empty expression at column %d" % tok.column, tok.column, None,
                            self.text)
        node = self.expr(1)
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(tok)
        return node

    def expr(self, min_prec):
        left = self.operand()
        while True:
            tok = self.peek()
            prec = _PRECEDENCE.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.take()
            right = self.expr(prec + 1)
            left = self._combine(tok, left, right)

    def _combine(self, tok, left, right):
        op = tok.text
        if op == "&&":
            return lambda env: 1 if left(env) and right(env) else 0
        if op == "||":
            return lambda env: 1 if left(env) or right(env) else 0
        fn = _binary(op, tok.column, self.text)
        return lambda env: fn(left(env), right(env))

    def operand(self):
        seg = self.unary()
        if not self.is_op(":"):
            return seg
        self.take()
        if self.is_op("["):
            return self.memory(None, seg)
        off = self.unary()
        if self.is_op(":"):
            raise self.error(self.peek())
        return lambda env: _seg_to_linear(env, seg(env), off(env))

    def unary(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("-", "~", "!", "+"):
            self.take()
            inner = self.unary()
            column, text = tok.column, self.text
            if tok.text == "-":
                def negate(env):
                    v = inner(env)
                    return -v if _is_real(v) else _Negated(-v & MASK)
                return negate
            if tok.text == "~":
                return lambda env: ~_integer(inner(env), "'~'", column, text) & MASK
            if tok.text == "!":
                return lambda env: 0 if inner(env) else 1
            return inner
        if tok.kind == "op" and tok.text == "*":
            self.take()
            inner = self.unary()
            column, text = tok.column, self.text
            return lambda env: _read(env, inner(env), 4, column, text)
        if tok.kind == "ident" and tok.text.lower() in _SIZE_KEYWORDS:
            # `byte` is a size only where a memory operand follows; otherwise it is a symbol.
            nxt = self.peek(1)
            if (nxt.kind == "ident" and nxt.text.lower() == "ptr") or self.starts_term(nxt):
                self.take()
                size = _SIZE_KEYWORDS[tok.text.lower()]
                if self.peek().kind == "ident" and self.peek().text.lower() == "ptr":
                    self.take()
                if self.is_op("["):
                    return self.memory(size, None)
                seg = self.unary()
                self.expect(":")
                if not self.is_op("["):
                    raise self.error(self.peek(), "'['")
                return self.memory(size, seg)
        return self.primary()

    def memory(self, size, seg):
        """'[' expr ']' read at a linear address, or at seg:expr when a segment is given."""
        open_tok = self.expect("[")
        addr = self.expr(1)
        self.expect("]")
        column, text = open_tok.column, self.text
        if seg is not None:
            inner = addr
            addr = lambda env: _seg_to_linear(env, seg(env), inner(env))  # noqa: E731
        if size is None:
            return lambda env: _read(env, addr(env), getattr(env, "default_size", 4), column,
                                     text)
        return lambda env: _read(env, addr(env), size, column, text)

    def primary(self):
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            value = tok.value & MASK
            return lambda env: value
        if tok.kind == "real":
            self.take()
            real = tok.value
            return lambda env: real
        if tok.kind == "reg":
            self.take()
            return self._register(tok)
        if tok.kind == "ident":
            self.take()
            return self._symbol(tok)
        if self.is_op("("):
            self.take()
            node = self.expr(1)
            self.expect(")")
            return node
        if self.is_op("["):
            return self.memory(None, None)
        raise self.error(tok, "a number, register, symbol or '('" if tok.kind != "end" else None)

    def _register(self, tok):
        name, column, text = tok.value, tok.column, self.text
        width_mask = (1 << _REGISTERS[name][2]) - 1
        if name in _REAL_REGISTERS:
            def read_real(env):
                try:
                    return x87.value(env.register(name) & width_mask)
                except KeyError:
                    raise ExprError("register '%s' is not available (no x87 FPU)" % name,
                                    column, tok.text, text) from None
            return read_real

        def read_register(env):
            try:
                return env.register(name) & width_mask
            except KeyError:
                raise ExprError("register '%s' is not available%s"
                                % (name, " (no x87 FPU)" if name in x87.NAMES else ""),
                                column, tok.text, text) from None
        return read_register

    def _symbol(self, tok):
        name, column, text = tok.text, tok.column, self.text

        def read_symbol(env):
            lookup = getattr(env, "symbol", None)
            value = lookup(name) if lookup is not None else None
            if value is None:
                raise ExprError("unknown symbol or register '%s'" % name, column, name, text)
            return value & MASK
        return read_symbol


# -- public API ------------------------------------------------------------------------------

class Expression:
    """A parsed expression; evaluate it against any number of envs."""

    __slots__ = ("text", "_fn")

    def __init__(self, text: str, _fn=None):
        self.text = text
        self._fn = _fn if _fn is not None else _Parser(text).parse()

    def evaluate(self, env) -> int:
        """The value as an unsigned 32-bit int; ExprError if a register, symbol or memory
        read fails, a division by zero happens or the result is a real number."""
        v = self._fn(env)
        if _is_real(v):
            raise ExprError("%s is the real number %s, not an integer"
                            % (self.text.strip() or "the expression", x87.real_text(v)))
        return v & MASK

    def value(self, env):
        """The value: an unsigned 32-bit int, or a real number (a Fraction, or the float
        inf or nan) when the expression computes one (st0 * 2)."""
        v = self._fn(env)
        return v if _is_real(v) else v & MASK

    def __repr__(self):
        return "Expression(%r)" % self.text

    def __str__(self):
        return self.text


def compile(text: str) -> Expression:  # noqa: A001 - the name the debugger's users expect
    """Parse `text`; ExprError (with .column and .token) if it is not a valid expression."""
    return Expression(text)


def evaluate(text: str, env) -> int:
    """Parse and evaluate in one go (commands typed once; conditions should compile())."""
    return Expression(text).evaluate(env)


def compile_assignment(text: str) -> tuple[str, Expression]:
    """Parse `REG = EXPR` (the argument of `set`): (canonical register name, Expression)."""
    m = re.match(r"\s*\$?([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)\Z", text, re.S)
    if m is None:
        raise ExprError("expected REGISTER = EXPRESSION", 1, None, text)
    name = m.group(1).lower()
    if text.lstrip().startswith("$"):
        name = _DOLLAR_ALIASES.get(name, name)
    name = _ALIASES.get(name, name)
    if name not in _REGISTERS:
        col = text.index(m.group(1)) + 1
        raise ExprError("unknown register '%s' at column %d" % (m.group(1), col), col,
                        m.group(1), text)
    # Parse the right-hand side in place so error columns count from the start of `text`.
    fn = _Parser(text, m.start(2)).parse()
    return name, Expression(m.group(2).strip(), fn)


class SimpleEnv:
    """An env over plain Python data, for tests and tools.

    registers: dict name -> value; sub-registers and flags missing from it are derived from the
    full register ("ah" from "eax", "zf" from "eflags"). memory: bytes-like, index = linear
    address. symbols: dict name -> address, or anything with lookup(name) (a SymbolTable).
    """

    def __init__(self, registers=None, memory=b"", symbols=None, default_size=4,
                 seg_to_linear=None):
        self.registers = {k.lower(): v for k, v in (registers or {}).items()}
        self.memory = memory
        self.symbols = symbols if symbols is not None else {}
        self.default_size = default_size
        if seg_to_linear is not None:
            self.seg_to_linear = seg_to_linear

    def register(self, name):
        if name in self.registers:
            return self.registers[name]
        base, shift, width = register_parts(name)
        return (self.registers[base] >> shift) & ((1 << width) - 1)

    def read_memory(self, address, size):
        if address < 0 or address + size > len(self.memory):
            raise IndexError("outside memory")
        return int.from_bytes(bytes(self.memory[address:address + size]), "little")

    def symbol(self, name):
        lookup = getattr(self.symbols, "lookup", None)
        return lookup(name) if lookup is not None else self.symbols.get(name)

    def seg_to_linear(self, seg, off):
        return ((seg << 4) + off) & MASK
