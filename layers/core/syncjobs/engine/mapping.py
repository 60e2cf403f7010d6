"""Map source attributes to target attributes with jinja2 expressions, compiled once per job.

Expressions run in an immutable sandbox (no attribute access to internals, no mutation) and
return native Python values: `{{ active == "true" }}` is a bool, `{{ [ {"value": email} ] }}` a list.
Target attribute names are dotted paths (`name.givenName`) that build nested objects.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate, native_concat
from jinja2.sandbox import ImmutableSandboxedEnvironment


class MappingError(ValueError):
    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(f"{attribute}: {message}")
        self.attribute = attribute


class _SandboxedNativeEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = NativeCodeGenerator
    concat = staticmethod(native_concat)  # type: ignore[assignment]


_env = _SandboxedNativeEnvironment(undefined=StrictUndefined, autoescape=False)
_env.template_class = NativeTemplate


def _compile(attribute: str, expression: str) -> NativeTemplate:
    try:
        return _env.from_string(expression)  # type: ignore[return-value]
    except TemplateError as err:
        raise MappingError(attribute, f"invalid expression: {err}") from None


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


class CompiledMapping:
    """One entity type's mapping and the job's scope filter, ready to apply to many records."""

    def __init__(self, mapping: dict[str, str], scope: str | None = None, required: tuple[str, ...] = ()) -> None:
        self._attributes = [(path, _compile(path, expr)) for path, expr in mapping.items()]
        self._scope = _compile("scope", scope) if scope else None
        self._required = required

    def in_scope(self, attributes: dict[str, Any]) -> bool:
        if self._scope is None:
            return True
        try:
            return bool(self._scope.render(attributes))
        except Exception as err:
            raise MappingError("scope", f"{type(err).__name__}: {err}") from None

    def apply(self, attributes: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, template in self._attributes:
            try:
                value = template.render(attributes)
                if isinstance(value, Undefined):  # a lone {{ missing }} comes back unrendered
                    value._fail_with_undefined_error()
            except Exception as err:
                raise MappingError(path, f"{type(err).__name__}: {err}") from None
            if value is None or value == "":
                continue  # an empty source value leaves the target attribute unset
            _set_path(out, path, value)
        for path in self._required:
            if path not in out:
                raise MappingError(path, "is required but mapped to an empty value")
        return out
