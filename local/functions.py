"""The template's functions, loaded as Lambda loads them: each handler module from its CodeUri, each function run
in a container of its own (the layer's `runtime.container`) built from the environment Lambda would give it, kept
warm; each route with its handler and, as the template's security says, its Lambda authorizer."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import template as cfn

Handler = Callable[[dict[str, Any], Any], Any]
FunctionSpec = cfn.Route | cfn.ScheduledFunction | cfn.LambdaAuthorizer


@dataclass
class LoadedRoute:
    route: cfn.Route
    handler: Handler
    authorizer: tuple[Handler, str] | None  # (handler, identity header) when a Lambda authorizer guards it


def load_handler(spec: FunctionSpec) -> Handler:
    """The handler `spec` names, its module imported once (under a name of its own per function)."""
    module_file, attribute = spec.handler.rsplit(".", 1)
    module_name = f"local_functions.{spec.function}.{module_file}"
    module: ModuleType | None = sys.modules.get(module_name)
    if module is None:
        found = importlib.util.spec_from_file_location(module_name, spec.code_dir / f"{module_file}.py")
        assert found and found.loader
        module = importlib.util.module_from_spec(found)
        sys.modules[module_name] = module
        found.loader.exec_module(module)
    return getattr(module, attribute)


class LocalFunctions:
    """The template's functions for one set of parameters (`refs`); `environment_of(function)` is the whole
    environment a function runs with. The process's `os.environ` is never changed."""

    def __init__(
        self, template: dict[str, Any], refs: dict[str, str], environment_of: Callable[[str], dict[str, str]]
    ) -> None:
        self._template, self._refs, self._environment_of = template, refs, environment_of
        self._containers: dict[str, Any] = {}

    def bind(self, spec: FunctionSpec) -> Handler:
        """The function's handler, run inside the function's own container (one per function, kept warm)."""
        from scheduled_sends.runtime.container import Container, using  # the layer, on the path once started

        handler = load_handler(spec)
        if spec.function not in self._containers:
            self._containers[spec.function] = Container(self._environment_of(spec.function))
        container = self._containers[spec.function]

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with using(container):
                return handler(event, context)

        return invoke

    def routes(self) -> list[LoadedRoute]:
        """Each route with its handler and, as the template's security says for these parameters, its
        Lambda authorizer (none for SigV4: it is not verified locally)."""
        security = cfn.route_security(self._template, self._refs)
        authorizers = {
            scheme: (self.bind(authorizer), authorizer.identity_header)
            for scheme, authorizer in cfn.lambda_authorizers(self._template, self._refs).items()
        }
        return [
            LoadedRoute(route, self.bind(route), authorizers.get(security[(route.method, route.resource)]))
            for route in cfn.routes(self._template)
        ]

    def scanners(self) -> list[Handler]:
        """The scheduled functions (the expiry scanner)."""
        return [self.bind(function) for function in cfn.scheduled_functions(self._template)]
