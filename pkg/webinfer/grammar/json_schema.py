"""JSON mode and JSON Schema as GBNF: what ``response_format`` compiles to.

``json_object_gbnf()`` is any JSON object; ``schema_to_gbnf(schema)`` is the JSON texts valid
under a schema, for this subset (anything else is refused with a GrammarError naming the
keyword and where it is, never silently ignored):

- type (one or a list), enum, const, anyOf, $ref to "#/$defs/..." or "#/definitions/..."
  (recursion allowed); annotations (title, description, default, examples, ...) are ignored;
- object: properties, required, additionalProperties. Properties come in the schema's order
  (a fixed order: each optional one may be left out); no other keys are ever written, which
  every additionalProperties value allows;
- array: items, minItems, maxItems;
- string: minLength, maxLength, or pattern (anchored ^...$, the common regex subset: regex.py);
  not format;
- integer: minimum, maximum, exclusiveMinimum, exclusiveMaximum (digit-range rules);
- number: minimum 0 only (no minus sign); other number bounds are refused.

Whitespace is bounded: between tokens at most one space, or a newline and up to 20 spaces or
tabs, so a model cannot loop on blanks. The root value has nothing after it, so an object or
array ends generation at its closing bracket. Numbers have at most 16 integer digits.

Not here: parsing GBNF (gbnf), running it (matcher).
"""

from __future__ import annotations

import json
import math
import re

from ..errors import GrammarError
from .regex import pattern_gbnf

_ANNOTATIONS = {"title", "description", "$schema", "$id", "default", "examples", "$comment", "deprecated",
                "readOnly", "writeOnly", "$defs", "definitions", "strict"}
_SUPPORTED = _ANNOTATIONS | {"type", "enum", "const", "anyOf", "$ref", "properties", "required",
                             "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
                             "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
MAX_ITEMS = 1000   # {m,n} repetition bound for minItems / maxItems

_PRIMITIVES = r'''
space ::= | " " | "\n" [ \t]{0,20}
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\""
int ::= "-"? ([0-9] | [1-9] [0-9]{0,15})
number ::= int ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" space (string space ":" space value space ("," space string space ":" space value space)*)? "}"
array ::= "[" space (value space ("," space value space)*)? "]"
'''


def json_object_gbnf() -> str:
    """Any JSON object (OpenAI's {"type": "json_object"})."""
    return "root ::= object\n" + _PRIMITIVES


def schema_to_gbnf(schema) -> str:
    """GBNF text whose root matches the JSON texts valid under schema (see the module docstring)."""
    return _Compiler(schema).compile()


def schemas_gbnf(schemas: list) -> tuple[list[str], str]:
    """One GBNF expression per schema, and the rules they use (the JSON primitives included), for a
    grammar that embeds several schemas in its own root (tool calls: one per tool's parameters).
    Each schema's "$ref"s resolve in that schema; rule names never clash between schemas."""
    c = _Compiler({})
    exprs = []
    for i, s in enumerate(schemas):
        if not isinstance(s, dict):
            raise GrammarError(f"a JSON Schema is an object (dict), got {type(s).__name__}")
        c.root, c.refs = s, {}
        exprs.append(c.visit(s, f"#{i}"))
    return exprs, "".join(f"{k} ::= {v}\n" for k, v in c.rules.items()) + _PRIMITIVES


def lit(text: str) -> str:
    """A GBNF string literal matching text exactly."""
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\r", "\\r").replace("\t", "\\t")) + '"'


def _json_lit(v) -> str:
    return lit(json.dumps(v, ensure_ascii=False, separators=(",", ":")))


class _Compiler:
    def __init__(self, schema):
        if not isinstance(schema, dict):
            raise GrammarError(f"a JSON Schema is an object (dict), got {type(schema).__name__}")
        self.root = schema
        self.rules: dict[str, str] = {}
        self.refs: dict[str, str] = {}

    def compile(self) -> str:
        body = self.visit(self.root, "#")
        return "root ::= " + body + "\n" + "".join(f"{k} ::= {v}\n" for k, v in self.rules.items()) + _PRIMITIVES

    def rule(self, hint: str, body: str) -> str:
        name = re.sub(r"[^a-zA-Z0-9]+", "-", hint).strip("-").lower() or "r"
        name = "s-" + name
        base, n = name, 1
        while name in self.rules:
            n += 1
            name = f"{base}-{n}"
        self.rules[name] = body
        return name

    def visit(self, s, path: str) -> str:
        """A GBNF expression (one element: a rule name, literal or group) for the values of s."""
        if s is True or s == {}:
            return "value"
        if not isinstance(s, dict):
            raise GrammarError(f"JSON Schema at {path}: expected an object, got {s!r}")
        bad = sorted(set(s) - _SUPPORTED)
        if bad:
            raise GrammarError(f"JSON Schema keyword {bad[0]!r} at {path} is not supported by the grammar "
                               f"compiler (supported: {', '.join(sorted(_SUPPORTED - _ANNOTATIONS))})")
        if "$ref" in s:
            return self.ref(s["$ref"], path)
        if "const" in s:
            return _json_lit(s["const"])
        if "enum" in s:
            if not isinstance(s["enum"], list) or not s["enum"]:
                raise GrammarError(f"JSON Schema at {path}: enum must be a non-empty list")
            return "(" + " | ".join(_json_lit(v) for v in s["enum"]) + ")"
        if "anyOf" in s:
            subs = s["anyOf"]
            if not isinstance(subs, list) or not subs:
                raise GrammarError(f"JSON Schema at {path}: anyOf must be a non-empty list")
            others = sorted(set(s) - _ANNOTATIONS - {"anyOf"})
            if others:
                raise GrammarError(f"JSON Schema at {path}: anyOf next to {others[0]!r} is not supported "
                                   f"(move {others[0]!r} into each anyOf branch)")
            return "(" + " | ".join(self.visit(x, f"{path}/anyOf/{i}") for i, x in enumerate(subs)) + ")"
        t = s.get("type")
        if t is None:
            t = "object" if "properties" in s else "array" if "items" in s else None
            if t is None:
                return "value"
        types = t if isinstance(t, list) else [t]
        for x in types:
            if x not in _TYPES:
                raise GrammarError(f"JSON Schema at {path}: unknown type {x!r} (types: {', '.join(sorted(_TYPES))})")
        alts = [getattr(self, "t_" + x)(s, path) for x in types]
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"

    def ref(self, ref, path: str) -> str:
        m = re.fullmatch(r"#/(\$defs|definitions)/([^/]+)", ref) if isinstance(ref, str) else None
        if not m:
            raise GrammarError(f"JSON Schema $ref {ref!r} at {path} is not supported (only '#/$defs/NAME' "
                               f"and '#/definitions/NAME')")
        if ref not in self.refs:
            target = self.root.get(m.group(1), {}).get(m.group(2))
            if target is None:
                raise GrammarError(f"JSON Schema $ref {ref!r} at {path} points at nothing")
            name = self.refs[ref] = self.rule("ref-" + m.group(2), "")   # placeholder: recursion allowed
            self.rules[name] = self.visit(target, ref)
        return self.refs[ref]

    # -- types ----------------------------------------------------------------------------------
    def t_null(self, s, path):
        return "null"

    def t_boolean(self, s, path):
        return "boolean"

    def t_string(self, s, path):
        if "pattern" in s:
            if "minLength" in s or "maxLength" in s:
                raise GrammarError(f"JSON Schema at {path}: pattern together with minLength / maxLength is not "
                                   f"supported (put the length into the pattern: {{m,n}})")
            return '("\\"" ' + pattern_gbnf(s["pattern"], path) + ' "\\"")'
        lo, hi = s.get("minLength", 0), s.get("maxLength")
        if lo == 0 and hi is None:
            return "string"
        _check_count(path, "minLength", lo)
        if hi is not None:
            _check_count(path, "maxLength", hi)
        return '("\\"" ' + _rep("char", lo, hi) + ' "\\"")'

    def t_number(self, s, path):
        for k in ("maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if k in s:
                raise GrammarError(f"JSON Schema keyword {k!r} on a number at {path} is not supported "
                                   f"(only minimum: 0; use type integer for other bounds)")
        if "minimum" in s:
            if s["minimum"] != 0:
                raise GrammarError(f"JSON Schema minimum {s['minimum']!r} on a number at {path} is not supported "
                                   f"(only minimum: 0; use type integer for other bounds)")
            return '(([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?)'
        return "number"

    def t_integer(self, s, path):
        lo, hi = _bound(s, path, "minimum", "exclusiveMinimum", math.ceil, 1), \
            _bound(s, path, "maximum", "exclusiveMaximum", math.floor, -1)
        if lo is None and hi is None:
            return "int"
        if lo is not None and hi is not None and lo > hi:
            raise GrammarError(f"JSON Schema at {path}: no integer lies in [{lo}, {hi}]")
        return "(" + " | ".join(int_range(lo, hi)) + ")"

    def t_array(self, s, path):
        item = self.visit(s.get("items", True), path + "/items")
        lo, hi = s.get("minItems", 0), s.get("maxItems")
        _check_count(path, "minItems", lo)
        if hi is not None:
            _check_count(path, "maxItems", hi)
            if hi < lo:
                raise GrammarError(f"JSON Schema at {path}: maxItems {hi} < minItems {lo}")
        if hi == 0:
            return '("[" space "]")'
        more = _rep(f'("," space {item} space)', max(lo - 1, 0), None if hi is None else hi - 1)
        body = f"{item} space {more}"
        return self.rule(path + "-array", f'"[" space {body if lo > 0 else "(" + body + ")?"} "]"')

    def t_object(self, s, path):
        props = s.get("properties")
        req = s.get("required", [])
        if props is None:
            if req:
                raise GrammarError(f"JSON Schema at {path}: required without properties is not supported")
            return "object"
        if not isinstance(props, dict) or not isinstance(req, list):
            raise GrammarError(f"JSON Schema at {path}: properties must be an object and required a list")
        missing = [r for r in req if r not in props]
        if missing:
            raise GrammarError(f"JSON Schema at {path}: required property {missing[0]!r} is not in properties")
        names = list(props)
        kv = [f'{lit(json.dumps(k, ensure_ascii=False))} space ":" space '
              f'{self.visit(props[k], f"{path}/properties/{k}")} space' for k in names]
        n = len(names)
        # rest[i]: the properties i.. after one was written (each behind a comma);
        # first[i]: the properties i.. when none was written yet.
        rest = [""] * (n + 1)
        for i in range(n - 1, -1, -1):
            item = f'"," space {kv[i]}'
            tail = f" {rest[i + 1]}" if rest[i + 1] else ""
            if names[i] in req:
                body = item + tail
            else:
                body = f"({item})?" + tail
            rest[i] = self.rule(f"{path}-rest-{i}", body)
        first = ""
        for i in range(n - 1, -1, -1):
            with_i = kv[i] + (f" {rest[i + 1]}" if i + 1 < n else "")
            if names[i] in req:
                first = self.rule(f"{path}-first-{i}", with_i)
            else:
                first = self.rule(f"{path}-first-{i}", f"{with_i} | {first}" if first else f"({with_i})?")
        return f'("{{" space {first} "}}")' if first else '("{" space "}")'


def _check_count(path: str, key: str, v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_ITEMS:
        raise GrammarError(f"JSON Schema at {path}: {key} must be an integer in 0..{MAX_ITEMS}, got {v!r}")


def _rep(x: str, lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{x}{{{lo},}}" if lo else f"{x}*"
    return f"{x}{{{lo},{hi}}}"


def _bound(s, path, key, ex_key, rnd, step):
    """An integer bound from key (inclusive) and ex_key (exclusive), the tighter of the two."""
    out = None
    for k, ex in ((key, False), (ex_key, True)):
        if k not in s:
            continue
        v = s[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise GrammarError(f"JSON Schema at {path}: {k} must be a finite number (the draft-4 boolean "
                               f"form of {ex_key} is not supported), got {v!r}")
        b = rnd(v)
        if ex and b == v:
            b += step
        out = b if out is None else (max(out, b) if step > 0 else min(out, b))
    return out


def int_range(lo: int | None, hi: int | None) -> list[str]:
    """GBNF alternatives matching the decimal integers in [lo, hi] (None: unbounded, up to 16 digits)."""
    out = []
    if lo is None or lo < 0:   # the negative part: "-" and a magnitude in [max(1, -hi), -lo]
        mag_lo = 1 if hi is None or hi >= 0 else -hi
        mag = _nonneg(mag_lo, None if lo is None else -lo)
        if mag:
            out.append('"-" (' + " | ".join(mag) + ")")
    if hi is None or hi >= 0:
        out += _nonneg(max(lo or 0, 0), hi)
    return out


def _nonneg(a: int, b: int | None) -> list[str]:
    """Alternatives for the non-negative integers in [a, b] without leading zeros (b None: up to 16 digits)."""
    out = []
    if b is None:
        n = len(str(a))
        out += _nonneg(a, 10 ** n - 1)
        if n < 16:
            out.append(f"[1-9] [0-9]{{{n},15}}")
        return out
    while a <= b:
        top = min(b, 10 ** len(str(a)) - 1)
        out += _same_len(str(a), str(top))
        a = top + 1
    return out


def _same_len(a: str, b: str) -> list[str]:
    """Digit strings of one length from a to b (a <= b)."""
    n = len(a)
    if n == 1:
        return [f"[{a}-{b}]"]
    if a[1:] == "0" * (n - 1) and b[1:] == "9" * (n - 1):
        return [f"[{a[0]}-{b[0]}] [0-9]{{{n - 1}}}"]
    if a[0] == b[0]:
        return [f'"{a[0]}" (' + " | ".join(_same_len(a[1:], b[1:])) + ")"]
    out = [f'"{a[0]}" (' + " | ".join(_same_len(a[1:], "9" * (n - 1))) + ")"]
    if int(b[0]) - int(a[0]) > 1:
        out.append(f"[{int(a[0]) + 1}-{int(b[0]) - 1}] [0-9]{{{n - 1}}}")
    out.append(f'"{b[0]}" (' + " | ".join(_same_len("0" * (n - 1), b[1:])) + ")")
    return out
