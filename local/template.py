"""Reads template.yaml — the one source of truth for routes, handlers and settings — for the local runner."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


# libyaml's parser when PyYAML was built with it (the same documents, several times faster than the pure-Python one).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML loader that turns short-form intrinsics (`!Ref X`) into their long form (`{"Ref": "X"}`)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # a YAML node is a scalar, a sequence or a mapping
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def parse(text: str) -> Any:
    """CloudFormation YAML (short-form intrinsics included) as plain data."""
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


_parsed: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data: parsed once per version of the file (its size and modification time), and a
    fresh copy each call, so no caller sees another's changes."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _parsed.get(path)
    if cached is None or cached[0] != version:
        cached = _parsed[path] = (version, parse(path.read_text(encoding="utf-8")))
    return copy.deepcopy(cached[1])


@dataclass(frozen=True)
class Route:
    """One API route of the template: method, API Gateway resource path and the function behind it."""

    function: str
    method: str
    resource: str
    code_dir: Path
    handler: str
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def _pattern(resource: str) -> re.Pattern[str]:
    # A {name} parameter matches one path segment, as in API Gateway.
    parts = re.split(r"(\{[A-Za-z0-9_]+\})", resource)
    regex = "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex)


def _handler(template: dict[str, Any], properties: dict[str, Any]) -> str:
    return properties.get("Handler") or template["Globals"]["Function"]["Handler"]


def _functions(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str, list[dict[str, Any]]]]:
    """(name, properties, handler, events) of every AWS::Serverless::Function."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            handler = _handler(template, properties)
            yield name, properties, handler, list((properties.get("Events") or {}).values())


def routes(template: dict[str, Any]) -> list[Route]:
    return [
        Route(
            function=name,
            method=event["Properties"]["Method"].upper(),
            resource=event["Properties"]["Path"],
            code_dir=ROOT / properties["CodeUri"],
            handler=handler,
            pattern=_pattern(event["Properties"]["Path"]),
        )
        for name, properties, handler, events in _functions(template)
        for event in events
        if event["Type"] == "Api"
    ]


@dataclass(frozen=True)
class ScheduledFunction:
    """A function driven by an EventBridge schedule (the expiry scanner)."""

    function: str
    code_dir: Path
    handler: str


def scheduled_functions(template: dict[str, Any]) -> list[ScheduledFunction]:
    return [
        ScheduledFunction(name, ROOT / properties["CodeUri"], handler)
        for name, properties, handler, events in _functions(template)
        if any(event["Type"] == "Schedule" for event in events)
    ]


def layer_dirs(template: dict[str, Any]) -> list[Path]:
    return [
        ROOT / resource["Properties"]["ContentUri"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]


_TABLE_FIELDS = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")


def create_table(client: Any, name: str, properties: dict[str, Any]) -> None:
    """Create a DynamoDB table (moto) as the template defines it: keys, indexes, billing mode and stream."""
    fields = {k: properties[k] for k in _TABLE_FIELDS if k in properties}
    if "StreamSpecification" in properties:  # CloudFormation names only the view type; the API also asks "enabled"
        fields["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    client.create_table(TableName=name, **fields)


def resolve(value: Any, template: dict[str, Any], refs: dict[str, str]) -> Any:
    """Evaluate the few intrinsics the template's settings use, with `refs` for parameters and resources."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((name, argument),) = value.items()
    if name == "Ref":
        if argument in refs:
            return refs[argument]
        parameter = template.get("Parameters", {}).get(argument)
        if parameter is not None and "Default" in parameter:
            return parameter["Default"]
        raise KeyError(f"no local value for Ref {argument}")
    if name == "Fn::FindInMap":
        mapping, key, attribute = (resolve(part, template, refs) for part in argument)
        return template["Mappings"][mapping][key][attribute]
    if name == "Fn::If":
        condition, when_true, when_false = argument
        chosen = when_true if resolve(template["Conditions"][condition], template, refs) else when_false
        return resolve(chosen, template, refs)
    if name == "Fn::Equals":
        left, right = (resolve(part, template, refs) for part in argument)
        return left == right
    if name == "Fn::Not":
        return not resolve(argument[0], template, refs)
    if name == "Fn::And":
        return all(resolve(part, template, refs) for part in argument)
    if name in ("Condition", "Fn::Condition"):  # a Conditions entry, or !Condition inside one
        return resolve(template["Conditions"][argument], template, refs)
    if name == "Fn::Sub" and isinstance(argument, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(resolve({"Ref": m.group(1)}, template, refs)), argument)
    raise ValueError(f"intrinsic {name} is not supported locally")


def exists(template: dict[str, Any], name: str, refs: dict[str, str]) -> bool:
    """Whether resource `name` is created with these parameters (its Condition, if any, holds)."""
    condition = template["Resources"][name].get("Condition")
    return condition is None or bool(resolve({"Condition": condition}, template, refs))


def function_environment(template: dict[str, Any], refs: dict[str, str], function: str | None = None) -> dict[str, str]:
    """The variables `function` is deployed with: Globals, then the function's own (each wins over Globals,
    as in SAM). Without `function`: the Globals alone."""
    variables = dict(template["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    if function is not None:
        own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        variables.update(own)
    return {key: str(resolve(value, template, refs)) for key, value in variables.items()}


def decide(value: Any, holds: Callable[[str], bool]) -> Any:
    """`value` as CloudFormation deploys it when `holds(condition)` says which conditions are true:
    every Fn::If chosen, AWS::NoValue dropped, everything else left as it is."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        return decide(when_true if holds(condition) else when_false, holds)
    if isinstance(value, dict):
        decided = {key: decide(item, holds) for key, item in value.items()}
        return {key: item for key, item in decided.items() if item != {"Ref": "AWS::NoValue"}}
    if isinstance(value, list):
        return [decide(item, holds) for item in value]
    return value


def _api_body(template: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    """The API's DefinitionBody as deployed with these parameters."""
    (api,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api")
    return decide(api["Properties"]["DefinitionBody"], lambda name: bool(resolve({"Condition": name}, template, refs)))


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A REQUEST Lambda authorizer of the API: the function behind it and the header it is keyed on."""

    function: str
    code_dir: Path
    handler: str
    identity_header: str


def route_security(template: dict[str, Any], refs: dict[str, str]) -> dict[tuple[str, str], str]:
    """(METHOD, resource path) -> the security scheme API Gateway applies to it with these parameters."""
    return {
        (method.upper(), path): next(iter(operation["security"][0]))
        for path, methods in _api_body(template, refs)["paths"].items()
        for method, operation in methods.items()
    }


def lambda_authorizers(template: dict[str, Any], refs: dict[str, str]) -> dict[str, LambdaAuthorizer]:
    """Security scheme name -> its Lambda authorizer (only schemes that exist with these parameters)."""
    found: dict[str, LambdaAuthorizer] = {}
    for scheme, definition in _api_body(template, refs)["securityDefinitions"].items():
        authorizer = definition.get("x-amazon-apigateway-authorizer")
        if not authorizer:
            continue
        uri = authorizer["authorizerUri"]["Fn::Sub"]
        alias = re.search(r"\$\{(\w+?)Alias\w+\}", uri)  # SAM's alias: <function>Alias<name>
        assert alias, uri
        function = alias.group(1)
        properties = template["Resources"][function]["Properties"]
        found[scheme] = LambdaAuthorizer(
            function=function,
            code_dir=ROOT / properties["CodeUri"],
            handler=_handler(template, properties),
            identity_header=authorizer["identitySource"].removeprefix("method.request.header."),
        )
    return found


def outputs(template: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
    """The stack outputs that exist with these parameters and can be worked out locally."""
    values: dict[str, str] = {}
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not resolve({"Condition": output["Condition"]}, template, refs):
            continue
        try:
            values[name] = str(resolve(output["Value"], template, refs))
        except (KeyError, ValueError):
            continue  # e.g. an attribute only AWS knows
    return values
