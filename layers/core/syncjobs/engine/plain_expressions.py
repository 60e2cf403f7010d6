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

from syncjobs.engine import mapping_limits as limits

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


def _joined(parts: tuple[Any, ...]) -> str:
    """`a ~ b`, and text around {{ }}s, as jinja's limited code generator writes it (mapping.py): the
    operands' size checked before they are joined, str() of each joined, the result's size checked.
    What jinja also charges the result to the entity's total, the generated function counts itself."""
    size = 0
    for part in parts:
        if type(part) is not str:
            size = sum(limits.deep_size(p) for p in parts)
            break
        size += len(part)
    else:  # all text: the result is as long as its parts
        if size > limits.MAX_VALUE_CHARS:
            limits.check_size(size, "'~'")  # raises
        return "".join(parts)
    if size > limits.MAX_VALUE_CHARS:
        limits.check_size(size, "'~'")  # raises
    value = "".join(map(str, parts))
    if len(value) > limits.MAX_VALUE_CHARS:
        limits.check_size(len(value), "'~'")  # raises
    return value


def _added(value: Any) -> Any:
    """The result of `a + b`, its size checked as jinja's sandbox checks its intercepted `+` (its charge
    to the entity's total counted by the generated function)."""
    limits.check_size(limits.deep_size(value), "the operator '+'")
    return value


def _data_size(value: Any) -> int:
    """A mapped value's size as mapping_limits.deep_size counts it, or an error (jinja decides) for one
    mapping_limits.check_data refuses (not data). One walk, exact types first; anything else the slow way."""
    kind = type(value)
    if kind is str:
        return len(value)
    if kind in _DATA_SCALARS:
        return 0
    if kind is dict:
        size = len(value)
        for key in value:
            size += len(key) if type(key) is str else _data_size(key)
        items: Any = value.values()
    elif kind is list or kind is tuple:
        size = len(value)
        items = value
    else:  # a subclass of a data type, or not data
        limits.check_data(value, "the value")
        return limits.deep_size(value)
    for item in items:
        kind = type(item)
        if kind is str:
            size += len(item)
        elif kind is dict:  # one level down without a call (a list of dicts: emails, addresses)
            size += len(item)
            for key, nested in item.items():
                size += len(key) if type(key) is str else _data_size(key)
                size += len(nested) if type(nested) is str else _data_size(nested)
        elif kind not in _DATA_SCALARS:
            size += _data_size(item)  # RecursionError (nested too deep): jinja decides
    return size


_DATA_SCALARS = frozenset({int, float, bool, type(None)})
# What orjson writes as json.dumps does (engine.diff): a value made only of these, lists and dicts.
JSON_SCALARS = frozenset({str, int, bool, type(None)})
_CONSTANT_TYPES = frozenset({str, *_DATA_SCALARS})


def _output_check(paths: int, filters_charge: bool) -> Callable[[Any, int, int], Any]:
    """What jinja does with the values it rendered, for values of `size` in all (their _data_size) of
    attributes whose paths take `paths` (a character each and one more per path), after its joins and
    sums `made` that much: its output, a dict of path to value, is charged; past a limit it renders each
    attribute alone, and _build checks each value. The plain value is jinja's only when that charge
    passes (so every later check does too); else the evaluator gives up and jinja decides.
    `filters_charge`: the expression calls filters that charge the entity's budget themselves."""

    def checked(value: Any, size: int, made: int) -> Any:
        size += paths
        total = size + made + (limits.produced() if filters_charge else 0)
        if size > limits.MAX_VALUE_CHARS or total > limits.MAX_ENTITY_CHARS:
            raise limits.MappingLimit("past a limit: jinja decides")
        return value

    return checked


def _item(value: Any, key: Any) -> Any:
    """`a[k]`: jinja's sandbox tries a[k] first and keeps what it gets; kept for plain dicts and lists."""
    if type(value) is not dict and type(value) is not list:
        raise TypeError("not a plain dict or list")  # jinja decides
    return value[key]


class _Generator:
    """Python source for the subset; constants, names and filters are referenced as `_ki`, the function's
    default arguments (fast locals, where `k[i]` cost a tuple lookup per use), bound to `k[i]`."""

    def __init__(self, environment: Environment) -> None:
        self._env = environment
        self._eval_ctx = EvalContext(environment, None)  # what a Context makes per render: no autoescape
        self.constants: list[Any] = []
        self._temporaries = 0
        self.made: list[str] = []  # the results of joins and sums, by name: what they charge jinja's budget
        self.leaves: list[str] = []  # the items of written-out lists and dicts not constant, by name
        self.json_constants = True  # no constant item of those is a float
        self.filters_charge = False  # a filter charging the budget itself (mapping_limits.GROWING_FILTERS)

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"_k{len(self.constants) - 1}"

    def signature(self, name: str) -> str:
        """`def name(a, _k0=k[0], ...):` (no name or text of the mapping's in it)."""
        defaults = "".join(f", _k{i}=k[{i}]" for i in range(len(self.constants)))
        return f"def {name}(a{defaults}):"

    def expression(self, node: nodes.Node) -> str:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise _Unsupported(type(node).__name__)
        return method(node)  # type: ignore[no-any-return]

    def _Const(self, node: nodes.Const) -> str:
        if type(node.value) not in _CONSTANT_TYPES:
            raise _Unsupported("constant")
        return self.constant(node.value)

    def _TemplateData(self, node: nodes.TemplateData) -> str:
        return self.constant(node.data)

    def _Name(self, node: nodes.Name) -> str:
        if node.ctx != "load" or node.name in _SPECIAL_NAMES:
            raise _Unsupported("name")
        return f"a[{self.constant(node.name)}]"  # KeyError: a global or undefined, jinja says which

    def _Concat(self, node: nodes.Concat) -> str:
        # jinja's str_join: str() of each part, joined (no literal_eval inside an expression), and limited
        parts = [self.expression(part) for part in node.nodes]
        name = f"_j{len(self.made)}"
        self.made.append(name)
        return f"({name} := {self.constant(_joined)}(({', '.join(parts)},)))"

    def sized(self, node: nodes.Node) -> tuple[str, str]:
        """The source of `node`'s value and of its size as _data_size counts it, valid once the value is
        made. A list or dict written out is sized from its items (a constant is data of a known size; any
        other item is named as it is made and sized on its own), instead of walking it afterwards."""
        if isinstance(node, nodes.Const) and type(node.value) in _CONSTANT_TYPES:
            self.json_constants &= type(node.value) in JSON_SCALARS
            return self._Const(node), str(len(node.value) if type(node.value) is str else 0)
        if isinstance(node, nodes.List):
            items = [self.sized(item) for item in node.items]
            sizes = [str(len(items)), *(size for _, size in items)]
            return f"[{', '.join(source for source, _ in items)}]", f"({' + '.join(sizes)})"
        if isinstance(node, nodes.Dict):
            pairs = [(self.sized(pair.key), self.sized(pair.value)) for pair in node.items]
            sizes = [str(len(pairs)), *(size for key, value in pairs for size in (key[1], value[1]))]
            return "{" + ", ".join(f"{k[0]}: {v[0]}" for k, v in pairs) + "}", f"({' + '.join(sizes)})"
        name = f"_v{self._temporaries}"
        self._temporaries += 1
        self.leaves.append(name)
        size = f"(len({name}) if type({name}) is str else {self.constant(_data_size)}({name}))"
        return f"({name} := {self.expression(node)})", size

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
        source = f"({self.expression(node.left)} {_BINARY[type(node)]} {self.expression(node.right)})"
        if type(node) is nodes.Add:  # the sandbox intercepts + (it can grow a value), not -
            name = f"_s{len(self.made)}"
            self.made.append(name)
            return f"({name} := {self.constant(_added)}({source}))"
        return source

    def preamble(self) -> list[str]:
        """Lines before the body: each join or sum result named, so that one not reached counts nothing."""
        return [f"    {name} = ''" for name in self.made]

    def finish(self, value: str, size: str, paths: int, flag: str = "") -> str:
        """The function's return: `value` checked against the limits, given the `size` of its values
        (and `flag`, when given, beside it)."""
        size_of = self.constant(limits.deep_size)
        made = " + ".join(f"len({n})" if n[1] == "j" else f"{size_of}({n})" for n in self.made) or "0"
        check = self.constant(_output_check(paths, self.filters_charge))
        return f"    return {check}({value}, {size}, {made}){', ' + flag if flag else ''}"

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
        self.filters_charge |= node.name in limits.GROWING_FILTERS
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
    builtins = {"str": str, "type": type, "len": len, "bool": bool}
    namespace: dict[str, Any] = {"__builtins__": builtins, "k": tuple(constants)}
    code = compile(source, f"<mapping {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated above from the subset, constants by index
    function: Callable[[dict[str, Any]], Any] = namespace[name]
    return function


def compile_expression(environment: Environment, expression: nodes.Expr) -> Callable[[dict[str, Any]], Any] | None:
    """A function of the attributes giving what jinja's native mode gives for `expression`, or raising
    when jinja must be asked; None if the expression is outside the subset."""
    generator = _Generator(environment)
    try:
        body = f"    v = {generator.expression(expression)}"
        size = f"{generator.constant(_data_size)}(v)"
        finish = generator.finish("v", size, len("scope") + 1)  # jinja's output: {"scope": value}
        lines = [generator.signature("expression"), *generator.preamble(), body, finish]
        return _build("\n".join(lines) + "\n", generator.constants, "expression")
    except (_Unsupported, RecursionError, SyntaxError, MemoryError):
        return None


def compile_mapping(
    environment: Environment, expressions: list[tuple[tuple[str, ...], nodes.Expr]], paths: int
) -> Callable[[dict[str, Any]], tuple[dict[str, Any], bool]] | None:
    """A function of the attributes giving the resource CompiledMapping.apply builds from jinja's values
    (each expression's value set at its path, in order, unless it is None or ""), and whether each of its
    values is JSON_SCALARS, or lists and dicts of them, as it found in passing (False: it may not be), or
    raising when jinja must be asked; None if an expression is outside the subset. `paths`: the
    characters of the mapping's paths as written, one more each (what mapping_limits charges for the
    keys of jinja's output).
    The function gives up as jinja would fail: the operators that can grow a value charged as jinja's
    limited environment charges them, and the values as jinja's output is charged and _build checks them."""
    generator = _Generator(environment)
    lines = ["    out = {}", "    n = 0"]
    try:
        size, scalars = generator.constant(_data_size), generator.constant(JSON_SCALARS)
        for parts, expression in expressions:
            target = "out"
            for part in parts[:-1]:  # what _set_path does: node = node.setdefault(part, {})
                target = f"{target}.setdefault({generator.constant(part)}, {{}})"
            key = generator.constant(parts[-1])
            if isinstance(expression, (nodes.List, nodes.Dict)):  # sized from its items
                leaves = len(generator.leaves)
                value, value_size = generator.sized(expression)
                plain = " and ".join(f"type({leaf}) in {scalars}" for leaf in generator.leaves[leaves:])
                lines += [f"    v = {value}", '    if not (v is None or v == ""):', f"        n += {value_size}"]
                lines += [f"        if not ({plain}):", "            j = False"] if plain else []
            else:  # text first: for a str, `not (v is None or v == "")` is `v`
                lines += [f"    v = {generator.expression(expression)}", "    if type(v) is str:", "        if v:"]
                lines += ["            n += len(v)", f"            {target}[{key}] = v"]
                lines += ['    elif not (v is None or v == ""):', f"        if type(v) not in {scalars}:"]
                lines += [f"            n += {size}(v)", "            j = False"]
            lines.append(f"        {target}[{key}] = v")
        lines.append(generator.finish("out", "n", paths, "j"))
        lines.insert(0, f"    j = {generator.json_constants}")
        source = "\n".join([generator.signature("mapping"), *generator.preamble(), *lines]) + "\n"
        return _build(source, generator.constants, "mapping")
    except (_Unsupported, RecursionError, SyntaxError, MemoryError):
        return None
