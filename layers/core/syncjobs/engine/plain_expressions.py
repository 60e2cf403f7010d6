"""A plain-Python evaluator for the subset of jinja expressions most mappings are made of.

Rendering a mapping through jinja costs most of an entity's time (a Context per entity, a generator,
native_concat). Most mappings only read columns, join text, lower-case, compare and build small lists
and dicts: those expressions are compiled once here, from the jinja AST, into one Python function that
computes the very values jinja's native mode computes: the same Python operators, in the same
shape jinja's own code generator writes them, and the same filter functions, taken from the same
environment and called with the same arguments.

The evaluator never decides anything on its own: whatever it is not sure of makes it give up, and the
caller renders through jinja as before, which then succeeds or fails exactly as it always did.
- At compile time: any node, filter or name outside the subset (the compile functions return None).
- At run time (any exception): a name that is not an attribute (KeyError: jinja would make it a global
  or an Undefined), a dict key or list index that is not there, a filter that raises, a value of a type
  the subset does not know.

The sandbox stays as strict as jinja's: the generated code makes no calls but to the whitelisted
filters and no attribute access, except `a.b` on a plain dict whose key `b` is not a dict attribute
(jinja's sandbox reads `a["b"]` then). Nothing from the mapping's text is pasted into the generated
source: names, keys and constants are passed in a tuple and read by index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, filters, nodes
from jinja2.nodes import EvalContext
from jinja2.utils import _PassArg

# Filters whose function the evaluator may call, as jinja's generated code does. Only ones that take
# no context (pass_context filters read the template's context), give the same result every time and
# never give an Undefined (`first` of an empty list does, and jinja's caller checks for one).
FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "float",
        "int",
        "join",
        "length",
        "list",
        "lower",
        "replace",
        "round",
        "string",
        "title",
        "trim",
        "upper",
    }
)
# Names jinja's code generator gives a meaning of its own in a template (`self` is the template).
_SPECIAL_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=", "in": "in", "notin": "not in"}
_BINARY = {nodes.Add: "+", nodes.Sub: "-"}
# Filters whose value for an exact str is a str method's: called inline for one (jinja's do_lower is
# soft_str(s).lower(), and soft_str(s) is s itself), the filter function for anything else.
_STR_METHODS = {"lower": (filters.do_lower, "lower"), "upper": (filters.do_upper, "upper")}


class _Unsupported(Exception):
    pass


def _dict_item(value: Any, key: str) -> Any:
    """`a.b` as jinja's sandbox reads it when `a` is a plain dict and `b` no attribute of dicts."""
    if type(value) is not dict:
        raise TypeError("not a plain dict")  # jinja decides
    return value[key]


def _item(value: Any, key: Any) -> Any:
    """`a[k]`: jinja's sandbox tries a[k] first and keeps what it gets; kept for plain dicts and lists."""
    if type(value) is not dict and type(value) is not list:
        raise TypeError("not a plain dict or list")  # jinja decides
    return value[key]


class _Generator:
    """Python source for the subset; constants, names and filters are referenced as `k[i]`."""

    def __init__(self, environment: Environment) -> None:
        self._env = environment
        self._eval_ctx = EvalContext(environment, None)  # what a Context makes per render: no autoescape
        self.constants: list[Any] = []
        self._temporaries = 0

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k[{len(self.constants) - 1}]"

    def expression(self, node: nodes.Node) -> str:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise _Unsupported(type(node).__name__)
        return method(node)  # type: ignore[no-any-return]

    def _Const(self, node: nodes.Const) -> str:
        if type(node.value) not in {str, int, float, bool, type(None)}:
            raise _Unsupported("constant")
        return self.constant(node.value)

    def _TemplateData(self, node: nodes.TemplateData) -> str:
        return self.constant(node.data)

    def _Name(self, node: nodes.Name) -> str:
        if node.ctx != "load" or node.name in _SPECIAL_NAMES:
            raise _Unsupported("name")
        return f"a[{self.constant(node.name)}]"  # KeyError: a global or undefined, jinja says which

    def _Concat(self, node: nodes.Concat) -> str:
        # jinja's str_join: str() of each part, joined (no literal_eval inside an expression)
        parts = [
            self.constant(part.value)
            if isinstance(part, nodes.Const) and type(part.value) is str
            else f"str({self.expression(part)})"
            for part in node.nodes
        ]
        return f"''.join(({', '.join(parts)},))"

    def _List(self, node: nodes.List) -> str:
        return f"[{', '.join(self.expression(item) for item in node.items)}]"

    def _Dict(self, node: nodes.Dict) -> str:
        pairs = [f"{self.expression(pair.key)}: {self.expression(pair.value)}" for pair in node.items]
        return "{" + ", ".join(pairs) + "}"

    def _Compare(self, node: nodes.Compare) -> str:
        source = self.expression(node.expr)
        for operand in node.ops:
            if operand.op not in _COMPARE:
                raise _Unsupported(operand.op)
            source += f" {_COMPARE[operand.op]} {self.expression(operand.expr)}"
        return f"({source})"

    def _And(self, node: nodes.And) -> str:
        return f"({self.expression(node.left)} and {self.expression(node.right)})"

    def _Or(self, node: nodes.Or) -> str:
        return f"({self.expression(node.left)} or {self.expression(node.right)})"

    def _Not(self, node: nodes.Not) -> str:
        return f"(not {self.expression(node.node)})"

    def _Add(self, node: nodes.Add) -> str:
        return self._binary(node)

    def _Sub(self, node: nodes.Sub) -> str:
        return self._binary(node)

    def _binary(self, node: nodes.BinExpr) -> str:
        return f"({self.expression(node.left)} {_BINARY[type(node)]} {self.expression(node.right)})"

    def _CondExpr(self, node: nodes.CondExpr) -> str:
        if node.expr2 is None:  # `a if b` with no else: jinja makes an Undefined
            raise _Unsupported("if without else")
        test, yes, no = (self.expression(n) for n in (node.test, node.expr1, node.expr2))
        return f"({yes} if {test} else {no})"

    def _Getattr(self, node: nodes.Getattr) -> str:
        if node.ctx != "load" or hasattr(dict, node.attr):
            raise _Unsupported("attribute")
        return f"{self.constant(_dict_item)}({self.expression(node.node)}, {self.constant(node.attr)})"

    def _Getitem(self, node: nodes.Getitem) -> str:
        if node.ctx != "load" or isinstance(node.arg, nodes.Slice):
            raise _Unsupported("item")
        return f"{self.constant(_item)}({self.expression(node.node)}, {self.expression(node.arg)})"

    def _Filter(self, node: nodes.Filter) -> str:
        if node.name not in FILTERS or node.name not in self._env.filters or node.node is None:
            raise _Unsupported("filter")
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _Unsupported("filter arguments")
        function = self._env.filters[node.name]
        if node.name in _STR_METHODS and _STR_METHODS[node.name][0] is function and not node.args and not node.kwargs:
            value = f"_t{self._temporaries}"
            self._temporaries += 1
            method = _STR_METHODS[node.name][1]
            call = f"{self.constant(function)}({value})"
            return f"({value}.{method}() if type({value} := {self.expression(node.node)}) is str else {call})"
        passed = _PassArg.from_obj(function)
        if passed is _PassArg.eval_context:
            args = [self.constant(self._eval_ctx)]
        elif passed is _PassArg.environment:
            args = [self.constant(self._env)]
        elif passed is None:
            args = []
        else:
            raise _Unsupported("filter needing the context")
        args.append(self.expression(node.node))
        args += [self.expression(arg) for arg in node.args]
        if node.kwargs:
            keywords = [f"{self.constant(pair.key)}: {self.expression(pair.value)}" for pair in node.kwargs]
            args.append("**{" + ", ".join(keywords) + "}")
        return f"{self.constant(function)}({', '.join(args)})"


def _build(source: str, constants: list[Any], name: str) -> Callable[[dict[str, Any]], Any]:
    namespace: dict[str, Any] = {"__builtins__": {"str": str, "type": type}, "k": tuple(constants)}
    code = compile(source, f"<mapping {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated above from the subset, constants by index
    function: Callable[[dict[str, Any]], Any] = namespace[name]
    return function


def compile_expression(environment: Environment, expression: nodes.Expr) -> Callable[[dict[str, Any]], Any] | None:
    """A function of the attributes giving what jinja's native mode gives for `expression`, or raising
    when jinja must be asked; None if the expression is outside the subset."""
    generator = _Generator(environment)
    try:
        body = generator.expression(expression)
        return _build(f"def expression(a, k=k):\n    return {body}\n", generator.constants, "expression")
    except (_Unsupported, RecursionError, SyntaxError, MemoryError):
        return None


def compile_mapping(
    environment: Environment, expressions: list[tuple[tuple[str, ...], nodes.Expr]]
) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """A function of the attributes giving the resource CompiledMapping.apply builds from jinja's values
    (each expression's value set at its path, in order, unless it is None or ""), or raising when jinja
    must be asked; None if an expression is outside the subset."""
    generator = _Generator(environment)
    lines = ["def mapping(a, k=k):", "    out = {}"]
    try:
        for parts, expression in expressions:
            lines.append(f"    v = {generator.expression(expression)}")
            target = "out"
            for part in parts[:-1]:  # what _set_path does: node = node.setdefault(part, {})
                target = f"{target}.setdefault({generator.constant(part)}, {{}})"
            lines.append('    if not (v is None or v == ""):')
            lines.append(f"        {target}[{generator.constant(parts[-1])}] = v")
        lines.append("    return out")
        return _build("\n".join(lines) + "\n", generator.constants, "mapping")
    except (_Unsupported, RecursionError, SyntaxError, MemoryError):
        return None
