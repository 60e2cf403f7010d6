"""Map source attributes to target attributes with jinja2 expressions, compiled once per job.

Expressions run in an immutable sandbox (no attribute access to internals, no mutation) and
return native Python values: `{{ active == "true" }}` is a bool, `{{ [ {"value": email} ] }}` a list,
and a column's text stays text. Target attribute names are dotted paths (`name.givenName`) that
build nested objects; an attribute of a schema extension is qualified with the extension's URN as
RFC 7644 section 3.10 writes it (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`,
`...:User:manager.value`) and lands in the resource under that URN.

Speed: all of a mapping's expressions are compiled into one template that evaluates to a dict, so an
entity costs one render, not one per attribute. Only when that render fails are the attributes
rendered one by one, to name the one that failed. A template with statements ({% if %}...) is
rendered on its own. Before any of that, a mapping whose expressions are all in the plain subset
(engine.plain_expressions: names, text, filters like lower, ==, lists and dicts...) is evaluated in
plain Python, several times faster; jinja renders only what that evaluator gives up on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from syncjobs.engine import mapping_limits as limits
from syncjobs.engine import plain_expressions


class MappingError(ValueError):
    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(f"{attribute}: {message}")
        self.attribute = attribute


class _LimitedCodeGenerator(NativeCodeGenerator):
    """jinja's native code, with `a ~ b` charged to the entity's budget (mapping_limits): repeated
    concatenation in {% set %}s is the one way left to double a value without an operator the sandbox sees."""

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        # jinja's own visit_Concat (autoescape is off here: str_join), its operands checked first
        self.write("environment.charged_concat(str_join(environment.checked_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))))")

    def visit_Assign(self, node: nodes.Assign, frame: Any) -> None:
        # jinja's own visit_Assign, the value checked: a {% set %} cannot hold a structure that nests
        # exponentially ([v, v] of [v, v] of ...), whatever later compares, hashes or renders it
        self.push_assign_tracking()
        self.newline(node)
        self.visit(node.target, frame)
        self.write(" = environment.checked_value(")
        self.visit(node.node, frame)
        self.write(")")
        self.pop_assign_tracking(frame)


def _limited_concat(values: Iterable[Any]) -> Any:
    """jinja's native concat of a template's output parts, each charged as it comes."""
    return native_concat(limits.charged_parts(values))


class _SandboxedNativeEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _LimitedCodeGenerator
    concat = staticmethod(_limited_concat)
    checked_parts = staticmethod(limits.checked_parts)
    checked_value = staticmethod(limits.checked_value)
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            limits.check_repeat(left, right)
        elif operator == "**":
            limits.check_power(left, right)
        elif operator == "%":
            limits.check_percent_format(left, "%-formatting")
        return limits.charge(super().call_binop(context, operator, left, right), f"the operator {operator!r}")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            limits.check_str_method(getattr(__obj, "__name__", ""), owner, args, kwargs)
        return limits.charge(super().call(__context, __obj, *args, **kwargs), "a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map, which jinja wraps at attribute access: the width checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            limits.check_brace_format(template, "str.format")
            return str(limits.charge(wrapped(*args, **kwargs), "str.format"))

        return checked

    @staticmethod
    def charged_concat(value: Any) -> Any:
        return limits.charge(value, "'~'")


class _LimitedTemplate(NativeTemplate):
    environment_class = _SandboxedNativeEnvironment  # type: ignore[assignment]  # render() uses its charged concat


_env = _SandboxedNativeEnvironment(undefined=StrictUndefined, autoescape=False)
_env.template_class = _LimitedTemplate
# the filters that can grow their input are checked; the others return no more than they are given
_env.filters.update({name: limits.guarded_filter(name, _env.filters[name]) for name in limits.GROWING_FILTERS})
_env.globals["lipsum"] = limits.bounded_lipsum(cast(Callable[..., Any], _env.globals["lipsum"]))

# Statements that repeat (loops, macros and their calls): with them a mapping could compute without end.
_REPEATING = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock)


def _no_repetition(attribute: str, template: nodes.Template) -> None:
    for node in template.find_all(_REPEATING):
        raise MappingError(
            attribute,
            f"{{% {type(node).__name__.lower().replace('block', '')} %}} is not allowed in a mapping "
            "(no loops or macros: use filters such as map, select and join)",
        )


def _parse(attribute: str, source: str) -> nodes.Template:
    try:
        template = _env.parse(source)
    except TemplateError as err:
        raise MappingError(attribute, f"invalid expression: {err}") from None
    except (RecursionError, SyntaxError, MemoryError):
        raise MappingError(attribute, "the expression is nested too deeply to compile") from None
    _no_repetition(attribute, template)
    return template


def check_expression(attribute: str, source: str) -> list[str]:
    """What stops an expression from ever rendering, each naming `attribute`: a syntax error, an unknown
    filter or test. Jinja checks filter names only when it compiles a template, and not at all inside
    {% if %} blocks (there they fail when reached), so the names are looked up here, in the whole tree."""
    try:
        template = _parse(attribute, source)
    except MappingError as err:
        return [str(err)]
    problems = [
        f"{attribute}: unknown filter {node.name!r}"
        for node in template.find_all(nodes.Filter)
        if node.name not in _env.filters
    ]
    problems += [
        f"{attribute}: unknown test {node.name!r}"
        for node in template.find_all(nodes.Test)
        if node.name not in _env.tests
    ]
    if not problems:
        try:
            _env.from_string(template)
        except TemplateError as err:
            problems.append(f"{attribute}: invalid expression: {err}")
        except (RecursionError, SyntaxError, MemoryError):
            problems.append(f"{attribute}: the expression is nested too deeply to compile")
    return problems


def referenced_names(source: str) -> set[str]:
    """The source attributes (CSV columns) an expression reads: its free names, less jinja's globals."""
    try:
        names = meta.find_undeclared_variables(_env.parse(source))
    except TemplateError:
        return set()  # check_expression reports it
    return {name for name in names if name not in _env.globals}


# The core schemas (RFC 7643 section 8.7.1): an attribute qualified with one is a plain attribute.
_CORE_SCHEMAS = frozenset({"urn:ietf:params:scim:schemas:core:2.0:user", "urn:ietf:params:scim:schemas:core:2.0:group"})
_PATH_FORMS = "name, name.subName, or a schema URN, a colon and the attribute (urn:...:User:department)"


def is_schema_urn(key: str) -> bool:
    """Whether a resource key (or a mapping path) is a schema URN rather than an attribute name."""
    return key[:4].lower() == "urn:"


def split_path(path: str) -> tuple[str, ...]:
    """The keys a target attribute path nests under. A URN-qualified path keeps its URN (everything up to
    the last colon) as one key, since a URN holds dots of its own ("2.0"); the attribute after it splits
    at dots as usual. A path qualified with a core schema is the plain attribute."""
    if not is_schema_urn(path):
        return tuple(path.split("."))
    urn, _, attribute = path.rpartition(":")
    parts = tuple(attribute.split("."))
    return parts if urn.lower() in _CORE_SCHEMAS else (urn, *parts)


def _malformed(path: str) -> bool:
    if is_schema_urn(path) and path.rpartition(":")[0].count(":") < 2:  # a URN is urn:<namespace>:<name>
        return True
    return any(not part for part in split_path(path))


def path_problems(paths: Iterable[str]) -> list[str]:
    """What keeps a mapping's target paths from building one resource, each naming the paths: a path
    that is not one, the same attribute twice (SCIM names are case-insensitive), and an attribute
    mapped whole beside one of its parts (`name` and `name.givenName`: the one would overwrite the other)."""
    problems: list[str] = []
    seen: dict[tuple[str, ...], str] = {}
    for path in paths:
        if _malformed(path):
            problems.append(f"{path}: is not an attribute path ({_PATH_FORMS})")
            continue
        key = tuple(part.lower() for part in split_path(path))
        for other_key, other in seen.items():
            if key == other_key:
                problems.append(f"{other} and {path}: both set the same attribute; map it once")
            elif key[: len(other_key)] == other_key or other_key[: len(key)] == key:
                whole, part = (other, path) if len(other_key) < len(key) else (path, other)
                problems.append(
                    f"{whole} and {part}: conflict, {whole} sets the whole attribute and {part} a part of it; map one"
                )
        seen.setdefault(key, path)
    return problems


def schemas_of(core_schema: str, resource: dict[str, Any]) -> list[str]:
    """A resource's `schemas` (RFC 7643 section 3): its core schema and each extension it carries."""
    return [core_schema, *(key for key in resource if is_schema_urn(key))]


def _dict_template(pairs: list[tuple[str, nodes.Expr]]) -> NativeTemplate:
    """A template evaluating to {name: value}: a single non-text result, so jinja's native mode
    hands the values over as they are (it would literal_eval a lone string: "0123" -> 123)."""
    ast = nodes.Template([nodes.Output([nodes.Dict([nodes.Pair(nodes.Const(k), v) for k, v in pairs])])])
    return _env.from_string(ast)  # type: ignore[return-value]


def _set_path(target: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _as_expression(template: nodes.Template) -> nodes.Expr | None:
    """A template made only of text and {{ expressions }} as one expression; None if it has statements."""
    if len(template.body) != 1 or not isinstance(template.body[0], nodes.Output):
        return None
    parts = [nodes.Const(n.data) if isinstance(n, nodes.TemplateData) else n for n in template.body[0].nodes]
    if len(parts) == 1:
        return parts[0]
    return nodes.Concat(parts)


def _combined(parsed: dict[str, nodes.Template]) -> NativeTemplate | None:
    pairs = []
    for path, template in parsed.items():
        expression = _as_expression(template)
        if expression is None:
            return None
        pairs.append((path, expression))
    return _dict_template(pairs)


def _plain(parsed: dict[str, nodes.Template]) -> Callable[[dict[str, Any]], tuple[dict[str, Any], bool]] | None:
    """The whole mapping as one plain-Python function: None unless every expression is in the subset."""
    expressions = []
    for path, template in parsed.items():
        expression = _as_expression(template)
        if expression is None:
            return None
        expressions.append((split_path(path), expression))
    # jinja's output is a dict of each path (as written) to its value: mapping_limits charges its keys too
    return plain_expressions.compile_mapping(_env, expressions, sum(len(path) + 1 for path in parsed))


def _plain_scope(scope: str | None) -> Callable[[dict[str, Any]], Any] | None:
    expression = _as_expression(_parse("scope", scope)) if scope else None
    return plain_expressions.compile_expression(_env, expression) if expression is not None else None


def _single(path: str, template: nodes.Template) -> NativeTemplate:
    expression = _as_expression(template)
    if expression is None:  # statements: rendered as text (and, jinja's native mode, read as a literal)
        return _env.from_string(template)  # type: ignore[return-value]
    return _dict_template([(path, expression)])


@dataclass(frozen=True)
class _Templates:
    attributes: list[tuple[str, NativeTemplate]]  # one per attribute, to name the one that fails
    combined: NativeTemplate | None  # all of them in one (None: a template has statements)
    globals: dict[str, Any]


class CompiledMapping:
    """One entity type's mapping and the job's scope filter, ready to apply to many records."""

    def __init__(self, mapping: dict[str, str], scope: str | None = None, required: tuple[str, ...] = ()) -> None:
        parsed = {path: _parse(path, source) for path, source in mapping.items()}
        self._parsed = parsed
        self._templates: _Templates | None = None
        self._lock = threading.Lock()
        try:
            # before jinja compiles the trees: its compiler optimizes a tree in place (folds constants)
            self._plain = _plain(parsed)  # (resource, JSON-plain), or it gives up
            if self._plain is None:  # jinja renders every entity: compile now (and fail now, if it must)
                self._jinja()
        except (RecursionError, SyntaxError, MemoryError):
            raise MappingError("mapping", "an expression is nested too deeply to compile") from None
        self._paths = {path: split_path(path) for path in mapping}
        self._scope = _single("scope", _parse("scope", scope)) if scope else None
        self.has_scope = self._scope is not None  # False: in_scope is always True (callers may skip it)
        self._scope_plain = _plain_scope(scope)
        self._required = required

    def in_scope(self, attributes: dict[str, Any]) -> bool:
        if self._scope is None:
            return True
        limits.new_entity()
        if self._scope_plain is not None:
            try:
                return bool(self._scope_plain(attributes))
            except Exception:  # jinja says what it is, from nothing, as it would without the evaluator
                limits.new_entity()
        try:
            value = self._scope.render(attributes)
            return bool(value["scope"] if isinstance(value, dict) and "scope" in value else value)
        except Exception as err:
            raise MappingError("scope", f"{type(err).__name__}: {err}") from None

    def apply(self, attributes: dict[str, Any]) -> dict[str, Any]:
        return self.apply_json(attributes)[0]

    def apply_json(self, attributes: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The resource, and whether it is known to hold only str, int, bool, None, lists and dicts (what
        engine.diff's hash writes with orjson without looking first). False: not known, not that it does not."""
        limits.new_entity()
        if self._plain is not None:
            try:
                out, json_plain = self._plain(attributes)
            except Exception:
                limits.new_entity()  # jinja starts from nothing, as it would without the evaluator
            else:
                self._check_required(out)
                return out, json_plain
        values = self._render_combined(attributes)
        if values is None:
            values = self._render_each(attributes)  # raises MappingError naming the attribute
        out = self._build(values)
        self._check_required(out)
        return out, False

    def _check_required(self, out: dict[str, Any]) -> None:
        for path in self._required:
            if path not in out:
                raise MappingError(path, "is required but mapped to an empty value")

    def _apply_plain(self, attributes: dict[str, Any]) -> dict[str, Any] | None:
        """What _build makes of jinja's values, in plain Python; None when the evaluator gives up (jinja
        then renders the same expressions and succeeds or fails as it always did)."""
        if self._plain is None:
            return None
        try:
            return self._plain(attributes)[0]
        except Exception:
            return None

    def _build(self, values: dict[str, Any]) -> dict[str, Any]:
        """jinja's values as the resource (the plain evaluator builds its own: it only makes data)."""
        out: dict[str, Any] = {}
        for path, value in values.items():
            if value is None or value == "":
                continue  # an empty source value leaves the target attribute unset
            try:
                limits.check_data(value, "the value")
            except limits.MappingLimit as err:
                raise MappingError(path, f"MappingLimit: {err}") from None
            _set_path(out, self._paths[path], value)
        return out

    def _jinja(self) -> _Templates:
        """The jinja templates, compiled when first needed: a mapping the plain evaluator runs needs
        them only for an entity it gives up on (compiling them costs milliseconds, per shard)."""
        with self._lock:
            if self._templates is None:
                parsed = self._parsed
                attributes = [(path, _single(path, template)) for path, template in parsed.items()]
                combined = _combined(parsed)
                self._templates = _Templates(attributes, combined, dict(combined.globals) if combined else {})
            return self._templates

    def _render_combined(self, attributes: dict[str, Any]) -> dict[str, Any] | None:
        templates = self._templates or self._jinja()
        template = templates.combined
        if template is None:
            return None
        try:
            # What template.render does, minus its per-call copy of the (ChainMap) globals and its
            # traceback rewriting: a third of the time of an 8-attribute mapping.
            context = Context(_env, {**templates.globals, **attributes}, template.name, template.blocks)
            values = _limited_concat(template.root_render_func(context))
        except Exception:  # the slow path names the failing attribute
            return None
        if not isinstance(values, dict):
            return None
        for value in values.values():
            if isinstance(value, Undefined):
                return None
        return values

    def _render_each(self, attributes: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for path, template in (self._templates or self._jinja()).attributes:
            limits.new_entity()  # each attribute on its own budget: the one past a limit is the one named
            try:
                value = template.render(attributes)
                if isinstance(value, dict) and path in value:
                    value = value[path]
                if isinstance(value, Undefined):  # a lone {{ missing }} comes back unrendered
                    value._fail_with_undefined_error()
            except Exception as err:
                raise MappingError(path, f"{type(err).__name__}: {err}") from None
            values[path] = value
        return values
