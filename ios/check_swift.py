#!/usr/bin/env python3
"""Checks the iOS Swift without a Swift compiler (there is none for Linux in the registries
these machines reach).

1. Parses every .swift file given (ios/ and the generated OutpostFFI.swift) with tree-sitter's
   Swift grammar; any syntax error fails. Two constructs the grammar lacks are blanked in the
   generated file first (`@_documentation(visibility: private)` and the empty closure `{ () }`),
   keeping every byte offset.
2. Builds the declared API of the generated bindings (module OutpostFFI) and of the facade
   (OutpostKit): types, methods with their argument labels and defaults, initialisers, enum
   cases with their associated-value labels, stored and computed properties, return types.
3. Follows every call, member access and enum case the Swift code makes whose receiver's type
   it can tell (annotations, `let x = ...` bindings, properties, return types, parameters,
   `for` loops over arrays and streams, `switch` subjects, arguments to known parameters) and
   checks that the member exists and that the argument labels fit one declaration (labels in
   order, every parameter without a default given). Calls it cannot type are not counted.

Prints the number of calls checked into each API and fails with file:line for each problem.

    check_swift.py GENERATED.swift FILE_OR_DIR...
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys

import tree_sitter_swift
from tree_sitter import Language, Node, Parser

PARSER = Parser(Language(tree_sitter_swift.language()))
GENERATED_MODULE = "OutpostFFI"


@dataclasses.dataclass
class Param:
    label: str | None  # None: unlabelled (`_`)
    has_default: bool
    type: str | None


@dataclasses.dataclass
class Func:
    params: list[Param]
    returns: str | None
    where: str


@dataclasses.dataclass
class TypeDecl:
    name: str
    kind: str  # class, struct, enum, protocol, actor
    module: str
    methods: dict[str, list[Func]] = dataclasses.field(default_factory=dict)
    inits: list[Func] = dataclasses.field(default_factory=list)
    cases: dict[str, list[str | None]] = dataclasses.field(default_factory=dict)
    props: dict[str, str | None] = dataclasses.field(default_factory=dict)
    inherits: list[str] = dataclasses.field(default_factory=list)
    # Types nested inside this one (`Outpost.Kind`), by simple name.
    nested: set[str] = dataclasses.field(default_factory=set)
    # False while only extensions of it were seen: its members cannot be judged.
    declared: bool = False


def blank_unsupported(src: bytes) -> bytes:
    """Blanks what tree-sitter-swift 0.7.4 cannot parse, keeping offsets."""
    src = src.replace(b"@_documentation(visibility: private)", b" " * len(b"@_documentation(visibility: private)"))
    return src.replace(b"{ () }", b"{    }")


def text(node: Node | None, src: bytes) -> str:
    return "" if node is None else src[node.start_byte : node.end_byte].decode()


def ident(s: str) -> str:
    return s.strip("`")


class SwiftFile:
    def __init__(self, path: pathlib.Path, module: str, generated: bool = False):
        self.path = path
        self.module = module
        raw = path.read_bytes()
        self.src = blank_unsupported(raw) if generated else raw
        self.tree = PARSER.parse(self.src)

    def line(self, node: Node) -> str:
        return f"{self.path}:{node.start_point[0] + 1}"

    def syntax_errors(self) -> list[str]:
        out: list[str] = []

        def walk(n: Node) -> None:
            if n.type == "ERROR" or n.is_missing:
                snippet = text(n, self.src).strip().splitlines()[0][:60] if text(n, self.src).strip() else n.type
                out.append(f"{self.line(n)}: syntax error near {snippet!r}")
                return
            for c in n.children:
                walk(c)

        walk(self.tree.root_node)
        return out


def type_name(node: Node | None, src: bytes) -> str | None:
    """A type annotation as a name: `T`, `[T]` for arrays, `Stream<T>` for one-argument generics."""
    if node is None:
        return None
    t = node.type
    if t in ("type_annotation",):
        return type_name(node.child_by_field_name("name") or next((c for c in node.named_children), None), src)
    if t == "optional_type":
        inner = type_name(node.child_by_field_name("wrapped"), src)
        return f"{inner}?" if inner else None
    if t == "array_type":
        inner = type_name(node.child_by_field_name("element") or next(iter(node.named_children), None), src)
        return f"[{inner}]" if inner else None
    if t == "user_type":
        parts = [c for c in node.named_children if c.type == "type_identifier"]
        args = [c for c in node.named_children if c.type == "type_arguments"]
        base = text(parts[-1], src) if parts else text(node, src)
        if args:
            first = next(iter(args[-1].named_children), None)
            inner = type_name(first, src)
            return f"{base}<{inner}>" if inner else base
        return base
    if t in ("type_identifier", "simple_identifier"):
        return text(node, src)
    return None


def element_type(t: str | None) -> str | None:
    """The element a `for` loop binds: `[T]` and `Stream<T>` give T."""
    if not t:
        return None
    t = t.rstrip("?")
    m = re.fullmatch(r"\[(.+)\]", t) or re.fullmatch(r"[A-Za-z_]+<(.+)>", t)
    return m.group(1) if m else None


def base(t: str | None) -> str | None:
    if not t:
        return None
    return re.sub(r"<.*>$", "", t.rstrip("?"))


def unwrapped(t: str | None) -> str | None:
    return t.rstrip("?") if t else t


# Members every enum or value type may have through the standard protocols it conforms to.
STANDARD = {"allCases", "rawValue", "hashValue", "hash", "description", "debugDescription", "self"}


def params_of(decl: Node, src: bytes) -> list[Param]:
    out = []
    children = list(decl.children)
    for i, c in enumerate(children):
        if c.type != "parameter":
            continue
        external = c.child_by_field_name("external_name")
        name = c.child_by_field_name("name")
        label = ident(text(external or name, src))
        has_default = i + 2 < len(children) and children[i + 1].type == "=" 
        ptype = None
        for tc in c.named_children:
            if tc.type in ("user_type", "optional_type", "array_type"):
                ptype = type_name(tc, src)
        out.append(Param(None if label == "_" else label, has_default, ptype))
    return out


def return_type(decl: Node, src: bytes) -> str | None:
    children = list(decl.children)
    for i, c in enumerate(children):
        if c.type == "->" and i + 1 < len(children):
            return type_name(children[i + 1], src)
    return None


class Api:
    def __init__(self) -> None:
        self.types: dict[str, TypeDecl] = {}
        self.functions: dict[str, list[Func]] = {}

    def collect(self, f: SwiftFile) -> None:
        self._collect_body(f.tree.root_node, f, None)

    def _type(self, name: str, kind: str, module: str) -> TypeDecl:
        if name not in self.types:
            self.types[name] = TypeDecl(name, kind, module)
        decl = self.types[name]
        if kind != "extension":
            decl.kind = kind
            decl.module = module
            decl.declared = True
        return decl

    def _collect_body(self, node: Node, f: SwiftFile, owner: TypeDecl | None) -> None:
        src = f.src
        for c in node.named_children:
            if c.type in ("class_declaration", "protocol_declaration"):
                kind = text(c.child_by_field_name("declaration_kind"), src)
                nm = type_name(c.child_by_field_name("name"), src)
                if not nm:
                    continue
                decl = self._type(nm, kind, f.module)
                if owner is not None and kind != "extension":
                    owner.nested.add(nm)
                for inh in c.named_children:
                    if inh.type == "inheritance_specifier":
                        n = type_name(inh.child_by_field_name("inherits_from"), src)
                        if n:
                            decl.inherits.append(n)
                body = c.child_by_field_name("body")
                if body is not None:
                    self._collect_body(body, f, decl)
            elif c.type in ("function_declaration", "protocol_function_declaration"):
                nm = ident(text(c.child_by_field_name("name"), src))
                fn = Func(params_of(c, src), return_type(c, src), f.line(c))
                if owner is None:
                    self.functions.setdefault(nm, []).append(fn)
                else:
                    owner.methods.setdefault(nm, []).append(fn)
            elif c.type == "init_declaration" and owner is not None:
                owner.inits.append(Func(params_of(c, src), owner.name, f.line(c)))
            elif c.type in ("property_declaration", "protocol_property_declaration") and owner is not None:
                nm = c.child_by_field_name("name")
                names = [text(n, src) for n in (nm.named_children if nm is not None else []) if n.type == "simple_identifier"]
                if nm is not None and not names:
                    names = [text(nm, src)]
                ann = next((x for x in c.named_children if x.type == "type_annotation"), None)
                for n in names:
                    owner.props[ident(n)] = type_name(ann, src)
            elif c.type == "enum_entry" and owner is not None:
                for nm in [x for x in c.named_children if x.type == "simple_identifier"]:
                    owner.cases[ident(text(nm, src))] = []
                data = c.child_by_field_name("data_contents")
                if data is not None:
                    last = [x for x in c.named_children if x.type == "simple_identifier"][-1]
                    labels: list[str | None] = []
                    expect_label = True
                    for x in data.children:
                        if x.type == "simple_identifier" and expect_label:
                            labels.append(ident(text(x, src)))
                            expect_label = False
                        elif x.type in ("user_type", "optional_type", "array_type", "tuple_type", "function_type"):
                            if expect_label:
                                labels.append(None)
                            expect_label = False
                        elif x.type == ",":
                            expect_label = True
                    owner.cases[ident(text(last, src))] = labels
            elif c.type in ("class_body", "enum_class_body", "protocol_body", "statements"):
                self._collect_body(c, f, owner)

    def lookup(self, t: str | None) -> TypeDecl | None:
        decl = self.types.get(base(t) or "")
        return decl if decl is not None and decl.declared else None

    def members(self, decl: TypeDecl, seen: set[str] | None = None):
        """decl and what it conforms to or inherits, as far as declared here."""
        seen = seen or set()
        if decl.name in seen:
            return
        seen.add(decl.name)
        yield decl
        for i in decl.inherits:
            d = self.types.get(i)
            if d is not None:
                yield from self.members(d, seen)


def fits(fn: Func, labels: list[str | None], trailing_closure: bool) -> bool:
    """Whether call labels fit fn's parameters: in order, skipping only defaulted ones."""
    i = 0
    for p in fn.params:
        if i < len(labels) and labels[i] == p.label:
            i += 1
        elif p.has_default:
            continue
        elif trailing_closure and i == len(labels):
            trailing_closure = False  # the trailing closure fills this parameter
        else:
            return False
    return i == len(labels)


def signature(fn: Func) -> str:
    return "(" + "".join(f"{p.label or '_'}:" for p in fn.params) + ")"


def chained(nav: Node) -> bool:
    """`a?.b`: the member belongs to the wrapped type, not to Optional."""
    return any(c.type == "?" for c in nav.children)


def known_type(api: "Api", name: str, env: dict) -> TypeDecl | None:
    """A type named directly (`Store.open`, `Category.all`), not a variable of that name."""
    decl = api.types.get(name)
    return decl if decl is not None and decl.declared and name not in env else None


class Checker:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def count(self, decl: TypeDecl | None, module: str | None = None) -> None:
        m = module or (decl.module if decl else "?")
        self.checked[m] = self.checked.get(m, 0) + 1

    # ---- the types of names in one file --------------------------------------------------

    def env_of(self, f: SwiftFile) -> dict[str, set[str]]:
        """Names to the types they may have in this file (scopes merged: a name may have several)."""
        env: dict[str, set[str]] = {}
        src = f.src

        def bind(name: str, t: str | None) -> None:
            if t:
                env.setdefault(ident(name), set()).add(t)

        # Two passes: bindings from expressions need the annotated names first.
        for _ in range(2):
            def walk(n: Node, owner: str | None) -> None:
                if n.type == "class_declaration":
                    owner = type_name(n.child_by_field_name("name"), src) or owner
                if n.type == "property_declaration":
                    nm = n.child_by_field_name("name")
                    ann = next((x for x in n.named_children if x.type == "type_annotation"), None)
                    value = n.child_by_field_name("value")
                    if nm is not None:
                        t = type_name(ann, src) if ann is not None else (self.type_of(value, f, env) if value is not None else None)
                        bind(text(nm, src), t)
                elif n.type == "parameter":
                    nm = n.child_by_field_name("name")
                    t = next((type_name(x, src) for x in n.named_children if x.type in ("user_type", "optional_type", "array_type")), None)
                    if nm is not None:
                        bind(text(nm, src), t)
                elif n.type == "lambda_parameter":
                    nm = n.child_by_field_name("name")
                    t = next((type_name(x, src) for x in n.named_children if x.type in ("user_type", "optional_type", "array_type")), None)
                    if nm is not None:
                        bind(text(nm, src), t)
                elif n.type in ("if_statement", "guard_statement", "while_statement"):
                    kids = list(n.children)
                    for i, k in enumerate(kids):
                        if k.type == "simple_identifier" and n.field_name_for_child(i) == "bound_identifier":
                            # `if let x = expr`: the next condition child is the expression.
                            for j in range(i + 1, len(kids)):
                                if n.field_name_for_child(j) == "condition" and kids[j].is_named and kids[j].type != "value_binding_pattern":
                                    bind(text(k, src), unwrapped(self.type_of(kids[j], f, env)))
                                    break
                            else:
                                bind(text(k, src), next(iter(env.get(text(k, src), set())), None))
                elif n.type == "for_statement":
                    item = n.child_by_field_name("item")
                    coll = n.child_by_field_name("collection")
                    if item is not None and item.type in ("pattern", "simple_identifier") and coll is not None:
                        names = [x for x in ([item] if item.type == "simple_identifier" else item.named_children) if x.type == "simple_identifier"]
                        if len(names) == 1:
                            bind(text(names[0], src), element_type(self.type_of(coll, f, env)))
                for c in n.children:
                    walk(c, owner)

            walk(f.tree.root_node, None)
        return env

    # ---- expression types --------------------------------------------------------------

    def type_of(self, n: Node | None, f: SwiftFile, env: dict[str, set[str]]) -> str | None:
        if n is None:
            return None
        src = f.src
        t = n.type
        if t in ("try_expression", "await_expression"):
            return self.type_of(n.named_children[-1], f, env)
        if t == "postfix_expression":
            inner = self.type_of(n.child_by_field_name("target") or n.named_children[0], f, env)
            return unwrapped(inner) if text(n, src).endswith("!") else inner
        if t == "simple_identifier":
            name = ident(text(n, src))
            cands = env.get(name)
            if cands and len(cands) == 1:
                return next(iter(cands))
            return None
        if t == "self_expression":
            up = n.parent
            while up is not None and up.type != "class_declaration":
                up = up.parent
            return type_name(up.child_by_field_name("name"), src) if up is not None else None
        if t == "navigation_expression":
            target = n.child_by_field_name("target")
            suffix = n.child_by_field_name("suffix")
            member = ident(text(suffix.child_by_field_name("suffix") if suffix is not None else None, src))
            if target is not None and target.type == "simple_identifier" and known_type(self.api, ident(text(target, src)), env):
                decl = self.api.types[ident(text(target, src))]
                return decl.name if member in decl.cases else self._static_type(decl, member)
            owner = self.api.lookup(self.type_of(target, f, env))
            return self._member_type(owner, member) if owner else None
        if t == "call_expression":
            callee = n.named_children[0]
            if callee.type == "simple_identifier" and ident(text(callee, src)) in self.api.types:
                return ident(text(callee, src))
            if callee.type == "simple_identifier":
                fns = self.api.functions.get(ident(text(callee, src)))
                return fns[0].returns if fns else None
            if callee.type == "navigation_expression":
                target = callee.child_by_field_name("target")
                suffix = callee.child_by_field_name("suffix")
                member = ident(text(suffix.child_by_field_name("suffix") if suffix is not None else None, src))
                if target is not None and target.type == "simple_identifier" and known_type(self.api, ident(text(target, src)), env):
                    decl = self.api.types[ident(text(target, src))]
                    if member in decl.cases:
                        return decl.name
                    return self._method_return(decl, member)
                owner = self.api.lookup(self.type_of(target, f, env))
                return self._method_return(owner, member) if owner else None
        return None

    def _member_type(self, decl: TypeDecl, member: str) -> str | None:
        for d in self.api.members(decl):
            if member in d.props:
                return d.props[member]
        return None

    def _static_type(self, decl: TypeDecl, member: str) -> str | None:
        for d in self.api.members(decl):
            if member in d.props:
                return d.props[member]
        return None

    def _method_return(self, decl: TypeDecl, member: str) -> str | None:
        for d in self.api.members(decl):
            if member in d.methods:
                return d.methods[member][0].returns
        return None

    # ---- the checks --------------------------------------------------------------------

    def call_labels(self, call: Node, src: bytes) -> tuple[list[str | None], list[Node], bool]:
        suffix = next((c for c in call.named_children if c.type == "call_suffix"), None)
        labels: list[str | None] = []
        values: list[Node] = []
        trailing = False
        if suffix is None:
            return labels, values, trailing
        for part in suffix.named_children:
            if part.type == "value_arguments":
                for arg in part.named_children:
                    if arg.type != "value_argument":
                        continue
                    label = arg.child_by_field_name("name")
                    labels.append(ident(text(label, src)) if label is not None else None)
                    values.append(arg.child_by_field_name("value") or arg.named_children[-1])
            elif part.type == "lambda_literal" or part.type == "annotated_lambda":
                trailing = True
        return labels, values, trailing

    def check_call(self, f: SwiftFile, node: Node, what: str, fns: list[Func], decl: TypeDecl | None, env) -> None:
        labels, values, trailing = self.call_labels(node, f.src)
        ok = [fn for fn in fns if fits(fn, labels, trailing)]
        self.count(decl)
        if not ok:
            given = "(" + "".join(f"{l or '_'}:" for l in labels) + ")"
            known = ", ".join(sorted({signature(fn) for fn in fns}))
            self.problems.append(f"{f.line(node)}: {what}{given} fits no declaration; declared: {known}")
            return
        # Implicit members passed to parameters of a known enum type: `.accepted`, `.comment(text:)`.
        fn = ok[0]
        i = 0
        for p in fn.params:
            if i < len(labels) and labels[i] == p.label:
                self.check_implicit(f, values[i], p.type, env)
                i += 1

    def check_implicit(self, f: SwiftFile, value: Node | None, expected: str | None, env) -> None:
        decl = self.api.lookup(expected)
        if value is None or decl is None or decl.kind != "enum":
            return
        callee, call = value, None
        if value.type == "call_expression":
            callee, call = value.named_children[0], value
        if callee.type != "prefix_expression" or text(callee, f.src)[:1] != ".":
            return
        name = ident(text(callee.child_by_field_name("target"), f.src))
        self.check_case(f, call or value, decl, name, call)

    def check_case(self, f: SwiftFile, node: Node, decl: TypeDecl, name: str, call: Node | None) -> None:
        self.count(decl)
        if name not in decl.cases:
            statics = [m for d in self.api.members(decl) for m in list(d.methods) + list(d.props)]
            if name in statics or name in STANDARD:
                return
            self.problems.append(f"{f.line(node)}: {decl.name} has no case .{name} (cases: {', '.join(sorted(decl.cases))})")
            return
        if call is not None:
            labels, _, _ = self.call_labels(call, f.src)
            want = decl.cases[name]
            if labels != want:
                given = "".join(f"{label or '_'}:" for label in labels)
                declared = "".join(f"{label or '_'}:" for label in want)
                self.problems.append(f"{f.line(node)}: .{name}({given}) does not match {decl.name}.{name}({declared})")

    def check_file(self, f: SwiftFile) -> None:
        env = self.env_of(f)
        src = f.src

        def walk(n: Node) -> None:
            if n.type == "call_expression":
                self.check_call_expression(f, n, env)
            elif n.type == "navigation_expression" and not (n.parent is not None and n.parent.type == "call_expression" and n.parent.named_children[0] == n):
                self.check_member(f, n, env)
            elif n.type == "switch_statement":
                self.check_switch(f, n, env)
            for c in n.children:
                walk(c)

        walk(f.tree.root_node)

    def check_call_expression(self, f: SwiftFile, n: Node, env) -> None:
        src = f.src
        callee = n.named_children[0]
        if callee.type == "simple_identifier":
            nm = ident(text(callee, src))
            decl = known_type(self.api, nm, env)
            if decl is not None and decl.kind in ("struct", "class") and decl.inits:
                self.check_call(f, n, nm, decl.inits, decl, env)
                return
            # A method of the enclosing type called without `self.`.
            up = n.parent
            while up is not None and up.type != "class_declaration":
                up = up.parent
            owner = self.api.lookup(type_name(up.child_by_field_name("name"), src)) if up is not None else None
            fns = [fn for d in self.api.members(owner) for fn in d.methods.get(nm, [])] if owner else []
            if fns and nm not in env:
                self.check_call(f, n, f"{owner.name}.{nm}", fns, owner, env)
            return
        if callee.type != "navigation_expression":
            return
        target = callee.child_by_field_name("target")
        suffix = callee.child_by_field_name("suffix")
        member = ident(text(suffix.child_by_field_name("suffix") if suffix is not None else None, src))
        if target is None or not member:
            return
        tname = ident(text(target, src))
        if target.type == "simple_identifier" and known_type(self.api, tname, env):
            decl = self.api.types[tname]
            if decl.kind == "enum" and member in decl.cases:
                self.check_case(f, n, decl, member, n)
                return
            fns = [fn for d in self.api.members(decl) for fn in d.methods.get(member, [])]
            if fns:
                self.check_call(f, n, f"{tname}.{member}", fns, decl, env)
            elif member not in decl.nested and member not in STANDARD and member != "init":
                self.count(decl)
                self.problems.append(f"{f.line(n)}: {tname} has no static member {member}")
            return
        receiver = self.type_of(target, f, env)
        if receiver and receiver.endswith("?") and not chained(callee):
            return  # Optional's own members (map, flatMap, ...)
        decl = self.api.lookup(receiver)
        if decl is None:
            return
        fns = [fn for d in self.api.members(decl) for fn in d.methods.get(member, [])]
        if fns:
            self.check_call(f, n, f"{decl.name}.{member}", fns, decl, env)
        elif self._member_type(decl, member) is None and member not in decl.cases and member not in STANDARD:
            self.count(decl)
            self.problems.append(f"{f.line(n)}: {decl.name} has no method {member}")

    def check_member(self, f: SwiftFile, n: Node, env) -> None:
        src = f.src
        target = n.child_by_field_name("target")
        suffix = n.child_by_field_name("suffix")
        if target is None or suffix is None:
            return
        member = ident(text(suffix.child_by_field_name("suffix"), src))
        if not member:
            return
        tname = ident(text(target, src))
        if target.type == "simple_identifier" and known_type(self.api, tname, env):
            decl = self.api.types[tname]
            if decl.kind == "enum":
                self.check_case(f, n, decl, member, None)
            return
        receiver = self.type_of(target, f, env)
        if receiver and receiver.endswith("?") and not chained(n):
            return
        decl = self.api.lookup(receiver)
        if decl is None or decl.kind == "enum":
            return
        self.count(decl)
        known = member in STANDARD or any(member in d.props or member in d.methods for d in self.api.members(decl))
        if not known:
            self.problems.append(f"{f.line(n)}: {decl.name} has no member {member}")

    def check_switch(self, f: SwiftFile, n: Node, env) -> None:
        decl = self.api.lookup(self.type_of(n.child_by_field_name("expr"), f, env))
        if decl is None or decl.kind != "enum":
            return
        for entry in n.named_children:
            if entry.type != "switch_entry":
                continue
            for sp in entry.named_children:
                if sp.type != "switch_pattern":
                    continue
                pat = sp.named_children[0] if sp.named_children else None
                if pat is None:
                    continue
                kids = list(pat.children)
                for i, k in enumerate(kids):
                    if k.type == "." and i + 1 < len(kids) and kids[i + 1].type == "simple_identifier":
                        name = ident(text(kids[i + 1], f.src))
                        self.count(decl)
                        if name not in decl.cases:
                            self.problems.append(f"{f.line(sp)}: {decl.name} has no case .{name}")
                        else:
                            bound = sum(1 for x in kids[i + 2 :] if x.type == "pattern")
                            want = len(decl.cases[name])
                            if bound and bound != want:
                                self.problems.append(f"{f.line(sp)}: .{name} binds {bound} value(s); {decl.name}.{name} has {want}")


def swift_files(paths: list[str]) -> list[pathlib.Path]:
    out: list[pathlib.Path] = []
    for p in paths:
        path = pathlib.Path(p)
        out.extend(sorted(path.rglob("*.swift")) if path.is_dir() else [path])
    return out


def module_of(path: pathlib.Path) -> str:
    parts = path.parts
    if "OutpostKit" in parts and "Sources" in parts:
        return "OutpostKit"
    if "OutpostKitTests" in parts:
        return "OutpostKitTests"
    return "OutpostApp"


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    generated = SwiftFile(pathlib.Path(argv[1]), GENERATED_MODULE, generated=True)
    files = [SwiftFile(p, module_of(p)) for p in swift_files(argv[2:])]
    problems: list[str] = []
    for f in [generated, *files]:
        problems += f.syntax_errors()

    api = Api()
    api.collect(generated)
    for f in files:
        if f.module == "OutpostKit":
            api.collect(f)
    checker = Checker(api)
    for f in files:
        checker.check_file(f)
    problems += checker.problems

    gen_types = sum(1 for t in api.types.values() if t.module == GENERATED_MODULE)
    kit_types = sum(1 for t in api.types.values() if t.module == "OutpostKit")
    print(
        f"swift check: parsed {len(files) + 1} files ({len(files)} under ios/ and {generated.path.name}); "
        f"API: {gen_types} generated types, {kit_types} OutpostKit types; "
        f"checked {checker.checked.get(GENERATED_MODULE, 0)} uses of the generated API "
        f"and {checker.checked.get('OutpostKit', 0)} of OutpostKit"
    )
    for p in problems:
        print("swift check: " + p, file=sys.stderr)
    if problems:
        print(f"swift check: FAILED ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
