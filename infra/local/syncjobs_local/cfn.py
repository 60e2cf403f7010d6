"""Read template.yaml (CloudFormation short-form tags) and resolve its intrinsic functions locally."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps !Ref, !GetAtt, !Sub, ... as their long form ({"Ref": ...}, {"Fn::Sub": ...})."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # type: ignore[no-any-return]  # noqa: S506 - SafeLoader subclass


class UnsupportedIntrinsic(ValueError):
    pass


_NO_VALUE = object()  # what {"Ref": "AWS::NoValue"} resolves to inside a property


@dataclass
class Resolver:
    """Resolves Ref/GetAtt/Sub/If/... against parameters and the physical names the local stack chose."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (logical id, attr) -> value
    region: str = "us-east-1"
    account: str = "123456789012"

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "syncjobs-local",
            "AWS::NoValue": "",
        }

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        raise KeyError(f"!Ref {name}: not a parameter, pseudo parameter or provisioned resource")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        """`value` with its intrinsics resolved; a property or list item that resolves to AWS::NoValue
        is left out, as CloudFormation leaves it out (a whole value of AWS::NoValue resolves to "")."""
        resolved = self._resolve(value)
        return "" if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: r for k, r in ((k, self._resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}
        ((fn, arg),) = value.items()
        if fn == "Ref" and arg == "AWS::NoValue":
            return _NO_VALUE
        if fn == "Fn::If":
            name, yes, no = arg
            return self._resolve(yes if self.condition(name) else no)
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            try:
                return self.attributes[(logical, attr)]
            except KeyError:
                raise KeyError(f"!GetAtt {logical}.{attr}: not provisioned locally") from None
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub_var(m.group(1), variables), text)
        if fn == "Fn::Not":
            return not self.resolve(arg[0])
        if fn == "Fn::Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if fn == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.resolve(items))
        raise UnsupportedIntrinsic(f"{fn} is not supported by the local stack")

    def _sub_var(self, name: str, variables: dict[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name:
            logical, attr = name.split(".", 1)
            return str(self.resolve({"Fn::GetAtt": [logical, attr]}))
        return str(self.ref(name))
